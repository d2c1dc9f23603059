"""Crystal data: reading, canonicalization, tensor batches, cached splits and statistics, and
properties of a composition (:mod:`~matterloop.data.quantities`, :mod:`~matterloop.data.hhi`).

The in-memory type is :class:`pymatgen.core.Structure`; tensors appear only in
:mod:`matterloop.data.tensors`.
"""

from matterloop.core.errors import DataError
from matterloop.data.canonical import canonicalize
from matterloop.data.dataset import (
    CrystalDataset,
    load_dataset_split,
    load_structures_file,
)
from matterloop.data.paths import resolve_data_dir, split_path
from matterloop.data.records import CrystalRecord, SkipReport
from matterloop.data.stats import DatasetStats, compute_stats
from matterloop.data.tensors import (
    CrystalBatch,
    CrystalTensors,
    collate,
    structure_to_tensors,
)

__all__ = [
    "CrystalBatch",
    "CrystalDataset",
    "CrystalRecord",
    "CrystalTensors",
    "DataError",
    "DatasetStats",
    "SkipReport",
    "canonicalize",
    "collate",
    "compute_stats",
    "load_dataset_split",
    "load_structures_file",
    "resolve_data_dir",
    "split_path",
    "structure_to_tensors",
]
