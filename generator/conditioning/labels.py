"""Labeled structures for fine-tuning, from CSV, CIF or extxyz files or oracle results.

* CSV (a ``cif`` column and numeric label columns) and extxyz (numeric ``info`` entries): read
  with the dataset readers, labels by column or key name;
* JSON lines of oracle results (``OracleResult.to_json``): the relaxed structure (the input where
  none) with ``energy``, ``energy_per_atom``, ``total_magnetization`` and ``magnetic_density``;
  failed results are skipped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pymatgen.core import Structure

from generator.data.dataset import read_records
from generator.data.errors import DataError

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
    """Structures and labels of the successful results in a JSON-lines file."""
    from oracles.result import OracleResult

    if not path.is_file():
        raise DataError(f"{path}: no such file")
    structures: list[Structure] = []
    labels: dict[str, list[float]] = {name: [] for name in ORACLE_LABELS}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result = OracleResult.from_json(line)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{path}:{number}: not an oracle result ({exc})") from exc
        if not result.ok:
            continue
        structures.append(result.structure or result.initial_structure)
        for name in ORACLE_LABELS:
            value = getattr(result, name)
            labels[name].append(math.nan if value is None else float(value))
    return structures, labels
