"""Crystal data: reading, canonicalization, tensor batches, cached splits and statistics.

The in-memory type is :class:`pymatgen.core.Structure`; tensors appear only in
:mod:`generator.data.tensors`.
"""

from generator.data.canonical import canonicalize
from generator.data.dataset import CrystalDataset, load_dataset_split, load_structures_file
from generator.data.errors import DataError
from generator.data.paths import resolve_data_dir, split_path
from generator.data.records import CrystalRecord, SkipReport
from generator.data.stats import DatasetStats, compute_stats
from generator.data.tensors import CrystalBatch, CrystalTensors, collate, structure_to_tensors

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
