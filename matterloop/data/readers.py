"""Read labeled crystals from MP-20-style CSV, CIF and extxyz files.

CSV files may be gzip-compressed and come in two layouts: this project's MP-20 layout
(``material_id, formula, n_atoms, <labels...>, spacegroup, cif``) and CDVAE's original one
(``material_id, formation_energy_per_atom, band_gap, pretty_formula, e_above_hull, elements, cif,
spacegroup.number``). Every numeric column other than the metadata becomes a property.

Reading is in two steps so that the costly one runs in parallel: ``iter_raw_crystals`` walks the
files and yields :class:`RawCrystal` items (CIF text or a Structure), and ``finish_crystal`` parses,
checks and canonicalizes one of them. A crystal that cannot be used (unparsable CIF, partial
occupancy, an unsupported element, no sites, overlapping atoms) is skipped and counted in a
:class:`SkipReport`; a missing file or a wrong column set raises :class:`DataError` naming the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import DummySpecies, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.core.errors import DataError
from matterloop.data.canonical import canonicalize
from matterloop.data.records import CrystalRecord, SkipReport

MAX_ATOMIC_NUMBER = 94  # H..Pu: every element of MP-20 and of the Materials Project's ICSD entries
MIN_INTERATOMIC_DISTANCE = 0.5  # Å, the structural-validity threshold of CDVAE/MatterGen

COLUMN_ALIASES = {"pretty_formula": "formula", "spacegroup.number": "spacegroup"}
METADATA_COLUMNS = {"material_id", "formula", "n_atoms", "elements", "cif", "split"}


def structure_problem(structure: Structure) -> str | None:
    """Why ``structure`` cannot be used as a training crystal, or ``None`` if it can."""
    if len(structure) == 0:
        return "no sites"
    if not structure.is_ordered:
        return "partial occupancy"
    for element in structure.composition.elements:
        number = getattr(element, "Z", 0)
        if not 1 <= number <= MAX_ATOMIC_NUMBER:
            return f"unsupported element {getattr(element, 'symbol', element)}"
    if len(structure) > 1:
        distances = structure.distance_matrix[np.triu_indices(len(structure), k=1)]
        if distances.min() < MIN_INTERATOMIC_DISTANCE:
            return f"overlapping atoms (< {MIN_INTERATOMIC_DISTANCE} Å)"
    if structure.volume < 0.1:
        return "cell volume < 0.1 Å³"
    return None


def parse_cif(text: str) -> Structure:
    """The first structure of a CIF text, exactly as written (no primitive reduction)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(text, fmt="cif", primitive=False)


def read_cif_file(path: Path) -> Structure:
    """The first structure of the CIF file ``path``, exactly as written, unchecked otherwise.

    Raises:
        DataError: naming the file, if it is empty, unparsable or names a species that is not a
            chemical element (e.g. ``Xx``).
    """
    text = Path(path).read_text(errors="replace")
    if not text.strip():
        raise DataError(f"{path}: not a readable CIF file (empty file)")
    try:
        structure = parse_cif(text)
    except Exception as exc:  # pymatgen raises many types for malformed CIF text
        raise DataError(f"{path}: not a readable CIF file ({type(exc).__name__}: {exc})") from exc
    unknown = [s.symbol for s in structure.composition if isinstance(s, DummySpecies)]
    if unknown:
        raise DataError(f"{path}: unknown element {', '.join(unknown)}")
    return structure


@dataclass
class RawCrystal:
    """A crystal as found in a file, before parsing and checks: CIF text or a Structure."""

    identifier: str
    properties: dict[str, float]
    cif: str | None = None
    structure: Structure | None = None


def finish_crystal(raw: RawCrystal, canonical: bool) -> CrystalRecord | str:
    """Parse, check and (optionally) canonicalize one crystal; the reason it is unusable if so.

    A module-level function of picklable arguments, so that it runs in worker processes.
    """
    structure = raw.structure
    if structure is None:
        if not raw.cif.strip():
            return "empty CIF"
        try:
            structure = parse_cif(raw.cif)
        except Exception as exc:  # pymatgen raises many types for malformed CIF text
            return f"unparsable CIF ({type(exc).__name__})"
    problem = structure_problem(structure)
    if problem is not None:
        return problem
    if canonical:
        structure = canonicalize(structure)
    return CrystalRecord(structure, raw.identifier, raw.properties)


def read_csv_table(path: Path) -> pd.DataFrame:
    """The table of an MP-20-style CSV, columns normalized; :class:`DataError` if unusable."""
    try:
        table = pd.read_csv(path, keep_default_na=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from exc
    table = table.loc[:, ~table.columns.str.startswith("Unnamed")]
    table = table.rename(columns=COLUMN_ALIASES)
    if "cif" not in table.columns:
        found = ", ".join(table.columns) or "none"
        raise DataError(
            f"{path}: no 'cif' column (found: {found}); expected the MP-20 layout "
            "(material_id, ..., cif) or CDVAE's"
        )
    return table


def property_columns(table: pd.DataFrame) -> list[str]:
    """Columns holding numeric labels (every column but metadata that parses as numbers)."""
    names = []
    for column in table.columns:
        if column in METADATA_COLUMNS:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        if values.notna().any() or table[column].isna().all():
            names.append(column)
    return names


def iter_csv_crystals(path: Path, skipped: SkipReport) -> Iterator[RawCrystal]:
    """Raw crystals of an MP-20-style CSV; rows without CIF text are counted in ``skipped``."""
    table = read_csv_table(path)
    labels = property_columns(table)
    values = {name: pd.to_numeric(table[name], errors="coerce").to_numpy(float) for name in labels}
    ids = table["material_id"].astype(str) if "material_id" in table else None
    for row, cif in enumerate(table["cif"]):
        identifier = ids.iloc[row] if ids is not None else f"{path.name}:{row}"
        if not isinstance(cif, str) or not cif.strip():
            skipped.add("empty CIF", identifier)
            continue
        properties = {name: float(values[name][row]) for name in labels}
        yield RawCrystal(identifier, properties, cif=cif)


def iter_cif_crystals(path: Path, skipped: SkipReport) -> Iterator[RawCrystal]:
    """The crystal of a CIF file (its first data block)."""
    yield RawCrystal(path.stem, {}, cif=path.read_text(errors="replace"))


def _numeric_info(info: dict) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in info.items()
        if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    }


def read_extxyz_frames(path: Path) -> list:
    """Every frame (an ASE ``Atoms``) of an extended-XYZ file.

    Raises:
        DataError: naming the file, if ASE cannot read it.
    """
    from ase.io import read

    try:
        return read(path, index=":", format="extxyz")
    except Exception as exc:  # ASE raises assorted errors for malformed files
        raise DataError(
            f"{path}: not a readable extxyz file ({type(exc).__name__}: {exc})"
        ) from exc


def iter_extxyz_crystals(path: Path, skipped: SkipReport) -> Iterator[RawCrystal]:
    """Crystals of an extended-XYZ file; numeric ``info`` entries become properties."""
    adaptor = AseAtomsAdaptor()
    for index, atoms in enumerate(read_extxyz_frames(path)):
        identifier = str(
            atoms.info.get("material_id", atoms.info.get("name", f"{path.stem}:{index}"))
        )
        if not atoms.pbc.all() or atoms.cell.rank < 3:
            skipped.add("not periodic in 3D", identifier)
            continue
        structure = adaptor.get_structure(atoms)
        yield RawCrystal(identifier, _numeric_info(atoms.info), structure=structure)


READERS = {
    ".csv": iter_csv_crystals,
    ".cif": iter_cif_crystals,
    ".extxyz": iter_extxyz_crystals,
    ".xyz": iter_extxyz_crystals,
}


def file_kind(path: Path) -> str:
    """``.csv``, ``.cif`` or ``.extxyz``-like suffix of ``path`` (``.gz`` looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in READERS:
        raise DataError(
            f"{path}: unknown file type {suffix or '(none)'}; expected .csv, .cif, .extxyz"
        )
    return suffix


def iter_raw_crystals(paths: Iterable[Path], skipped: SkipReport) -> Iterator[RawCrystal]:
    """Raw crystals of CSV, CIF and extxyz files; a directory stands for the CIF files in it."""
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from iter_raw_crystals(sorted(path.glob("*.cif")), skipped)
            continue
        if not path.exists():
            raise DataError(f"{path}: no such file")
        yield from READERS[file_kind(path)](path, skipped)
