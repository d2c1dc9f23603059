"""Checks on structures before and during a calculation.

Every check raises :class:`~matterloop.core.result.OracleFailure` with a precise reason, so that
a bad input never reaches a calculator and a relaxation that leaves physical ground stops at once.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.core.result import FailureKind, OracleFailure


def closest_pair(atoms: Atoms, cutoff: float) -> tuple[float, int, int] | None:
    """The shortest interatomic distance below ``cutoff`` (Å) with its two atom indices, periodic
    images included, or ``None`` when no two atoms are that close."""
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    if len(d) == 0:
        return None
    k = int(np.argmin(d))
    return float(d[k]), int(i[k]), int(j[k])


def check_geometry(atoms: Atoms, min_distance: float, min_volume: float) -> None:
    """Finite positions and cell, cell volume ≥ ``min_volume`` (Å³), all distances ≥
    ``min_distance`` (Å)."""
    if not (np.isfinite(atoms.positions).all() and np.isfinite(atoms.cell.array).all()):
        raise OracleFailure(FailureKind.INVALID_STRUCTURE, "non-finite positions or cell")
    volume = abs(atoms.cell.volume)
    if volume < min_volume:
        raise OracleFailure(
            FailureKind.INVALID_STRUCTURE,
            f"cell volume {volume:.3g} Å³ is below {min_volume} Å³",
        )
    pair = closest_pair(atoms, min_distance)
    if pair is not None:
        d, i, j = pair
        symbols = atoms.get_chemical_symbols()
        raise OracleFailure(
            FailureKind.INVALID_STRUCTURE,
            f"atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {d:.3f} Å apart, "
            f"closer than {min_distance} Å",
        )


def check_elements(structure: Structure, supported: Collection[str] | None, oracle: str) -> None:
    """Every element of ``structure`` is in ``supported`` (element symbols; ``None``: all)."""
    if supported is None:
        return
    missing = sorted({el.symbol for el in structure.composition.elements} - set(supported))
    if missing:
        raise OracleFailure(
            FailureKind.UNSUPPORTED_ELEMENT,
            f"{oracle} does not cover element(s) {', '.join(missing)}",
        )


def validate_structure(
    structure: Structure,
    *,
    supported_elements: Collection[str] | None,
    oracle: str,
    min_distance: float,
    min_volume: float,
) -> Atoms:
    """Check an input structure and return it as ASE ``Atoms``.

    Raises :class:`OracleFailure` for an empty or disordered structure, non-finite coordinates, a
    cell smaller than ``min_volume`` (Å³), atoms closer than ``min_distance`` (Å) or an element
    outside ``supported_elements``.
    """
    if len(structure) == 0:
        raise OracleFailure(FailureKind.INVALID_STRUCTURE, "structure has no atoms")
    if not structure.is_ordered:
        raise OracleFailure(
            FailureKind.INVALID_STRUCTURE, "structure is disordered (partial occupancies)"
        )
    check_elements(structure, supported_elements, oracle)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    check_geometry(atoms, min_distance, min_volume)
    return atoms
