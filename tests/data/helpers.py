"""Builders of small data files for the data tests."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure


def cif_text(structure: Structure) -> str:
    return structure.to(fmt="cif")


def write_csv(path: Path, rows: list[dict]) -> Path:
    table = pd.DataFrame(rows)
    if path.suffix == ".gz":
        buffer = io.StringIO()
        table.to_csv(buffer, index=False)
        path.write_bytes(gzip.compress(buffer.getvalue().encode()))
    else:
        table.to_csv(path, index=False)
    return path
