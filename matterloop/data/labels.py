"""Labeled structures for fine-tuning, from CSV, CIF or extxyz files, oracle results or a named
dataset.

* CSV (a ``cif`` column and numeric label columns) and extxyz (numeric ``info`` entries): read
  with the dataset readers, labels by column or key name;
* an oracle results file (:mod:`matterloop.core.results_file`: the output of ``matterloop
  oracle run`` or a campaign's ``results.jsonl``): the relaxed structure (the input where none) with
  ``energy``, ``energy_per_atom``, ``total_magnetization``, ``magnetic_density`` and the
  oracle's own properties by name (``bulk_modulus``, ...); failed results are skipped;
* a named dataset (``mp_20``): the structures of its training splits with their stored labels
  (:func:`dataset_labeled_structures`).

Sets from several sources are joined property by property with :func:`merge_labeled`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from matterloop.core.errors import DataError
from matterloop.data.dataset import CrystalDataset, load_dataset_split, read_records
from matterloop.data.properties import PropertyKind, property_kind, raw_labels

ORACLE_LABELS = ("energy", "energy_per_atom", "total_magnetization", "magnetic_density")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_labeled_structures(path: Path) -> tuple[list[Structure], dict[str, list[float]]]:
    """Structures of ``path`` and their labels by name, ``nan`` where a structure has none.

    Raises:
        DataError: a missing or unreadable file, or one without a usable structure.
    """
    path = Path(path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return read_oracle_results(path)
    records, skipped = read_records([path], canonical=False, progress=False)
    if not records:
        raise DataError(f"{path}: no usable structures; {skipped.summary()}")
    names = sorted({name for record in records for name in record.properties})
    labels = {name: [record.property(name) for record in records] for name in names}
    return [record.structure for record in records], labels


def read_oracle_results(path: Path) -> tuple[list[Structure], dict[str, list[float]]]:
    """Structures and labels of the successful results in an oracle results file.

    Raises:
        DataError: a missing file, a line that is not a results record, or no successful
            result.
    """
    from matterloop.core.results_file import read_results_file

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    records, _ = read_results_file(path)
    results = [record.result for record in records if record.result.ok]
    if not results:
        raise DataError(f"{path}: no successful result among its {len(records)} record(s)")
    own = sorted({name for result in results for name in result.properties})
    structures = [result.structure or result.initial_structure for result in results]
    labels: dict[str, list[float]] = {}
    for name in ORACLE_LABELS:
        values = [getattr(result, name) for result in results]
        labels[name] = [math.nan if value is None else float(value) for value in values]
    for name in own:
        labels[name] = [float(result.properties.get(name, math.nan)) for result in results]
    return structures, labels


def dataset_labeled_structures(
    dataset: str,
    splits: Sequence[str] = ("train", "val"),
    limit: int | None = None,
    seed: int = 0,
    data_dir: str | Path | None = None,
) -> tuple[list[Structure], dict[str, list[float]]]:
    """Structures (canonical cells) of the ``splits`` of a named dataset under the data dir, with
    every label it stores (MP-20: ``formation_energy_per_atom`` in eV/atom, ``band_gap`` in eV,
    ``dft_mag_density`` in µB/Å³, ...), ``nan`` where a structure has none.

    Args:
        limit: at most this many structures, drawn at random (by ``seed``) without replacement.
    """
    data = CrystalDataset.concatenate(
        [load_dataset_split(dataset, split, data_dir, progress=False) for split in splits]
    )
    if limit is not None and limit < len(data):
        data = data.select(np.random.default_rng(seed).choice(len(data), limit, replace=False))
    labels = {name: data.property(name).tolist() for name in data.property_names}
    return data.structures(), labels


def merge_labeled(
    parts: Sequence[tuple[Sequence[Structure], Mapping[str, Sequence[float]]]],
    properties: Sequence[str],
) -> tuple[list[Structure], dict[str, list[float]]]:
    """One labeled set of ``parts`` (each: structures and labels by name) for fine-tuning
    ``properties``: every scalar's labels are looked up part by part, under its own name or an
    alias (``magnetic_density`` from MP-20's ``dft_mag_density``) or read off the structures
    (HHI), so that sources naming a quantity differently can be joined.

    Raises:
        ConditionError: a part with neither labels nor a rule for a scalar property.
    """
    structures: list[Structure] = []
    labels: dict[str, list[float]] = {
        name: [] for name in properties if property_kind(name) == PropertyKind.SCALAR
    }
    for part_structures, part_labels in parts:
        if not part_structures:
            continue
        structures += part_structures
        for name, values in labels.items():
            values += raw_labels(name, part_structures, part_labels)
    return structures, labels
