"""The one ASE code path that relaxes and labels a structure, shared by every calculator oracle.

A relaxation moves positions with an ASE optimizer (FIRE by default) and, when asked, the cell
through :class:`ase.filters.FrechetCellFilter` (stress in eV/Å³). After every step the energy,
forces and interatomic distances are checked, so an exploding relaxation stops with a
:attr:`~matterloop.core.result.FailureKind.EXPLODED` failure instead of running on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, PropertyNotImplementedError
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE, LBFGS
from pymatgen.core import Structure

from matterloop.core.result import FailureKind, OracleFailure
from matterloop.oracles.config import RelaxConfig
from matterloop.oracles.validation import closest_pair

OPTIMIZERS = {"FIRE": FIRE, "BFGS": BFGS, "LBFGS": LBFGS}


@dataclass(frozen=True)
class Labels:
    """Energy, forces, stress and magnetic moments of the final geometry (units as in
    :class:`~matterloop.core.result.OracleResult`)."""

    atoms: Atoms
    energy: float
    forces: np.ndarray
    stress: np.ndarray | None
    magmoms: np.ndarray | None
    total_magnetization: float | None
    relaxation_converged: bool | None
    relaxation_steps: int | None


def check_physical(atoms: Atoms, min_distance: float, step: int | None = None) -> None:
    """Raise an ``EXPLODED`` failure for a non-finite energy, force or stress, or two atoms closer
    than ``min_distance`` (Å)."""
    where = "" if step is None else f" at relaxation step {step}"
    energy = atoms.get_potential_energy()
    if not np.isfinite(energy):
        raise OracleFailure(FailureKind.EXPLODED, f"non-finite energy ({energy}){where}")
    if not np.isfinite(atoms.get_forces()).all():
        raise OracleFailure(FailureKind.EXPLODED, f"non-finite forces{where}")
    stress = atoms.calc.results.get("stress")  # checked only where already computed
    if stress is not None and not np.isfinite(stress).all():
        raise OracleFailure(FailureKind.EXPLODED, f"non-finite stress{where}")
    pair = closest_pair(atoms, min_distance)
    if pair is not None:
        d, i, j = pair
        raise OracleFailure(
            FailureKind.EXPLODED,
            f"atoms {i} and {j} collapsed to {d:.3f} Å (< {min_distance} Å){where}",
        )


def magnetic_moments(atoms: Atoms) -> tuple[np.ndarray | None, float | None]:
    """Site moments and total magnetization (µB) if the calculator provides them.

    The total is the calculator's own cell moment where it has one (DFT: includes the
    interstitial region), else the sum of the site moments.
    """
    implemented = getattr(atoms.calc, "implemented_properties", ())
    magmoms = optional(atoms.get_magnetic_moments) if "magmoms" in implemented else None
    total = optional(atoms.get_magnetic_moment) if "magmom" in implemented else None
    if total is None and magmoms is not None:
        total = magmoms.sum()
    return magmoms, None if total is None else float(total)


def optional(getter: Callable[[], Any]) -> np.ndarray | None:
    """``getter()`` as an array, or ``None`` when the calculator does not provide it."""
    try:
        return np.asarray(getter())
    except PropertyNotImplementedError:
        return None


def atoms_to_structure(atoms: Atoms) -> Structure:
    """The geometry of ``atoms`` as a plain pymatgen structure (no calculator, no properties)."""
    return Structure(
        atoms.cell.array, atoms.get_chemical_symbols(), atoms.positions, coords_are_cartesian=True
    )


def relax_atoms(
    atoms: Atoms, relax: RelaxConfig, min_distance: float, constant_volume: bool = False
) -> tuple[bool, int]:
    """Relax ``atoms`` (calculator attached) in place: positions, and the cell when
    ``relax.relax_cell`` (its shape only when ``constant_volume``). Whether it converged within
    ``relax.max_steps``, and the steps taken.

    Raises :class:`OracleFailure` (``EXPLODED``) as soon as a step leaves physical ground.
    """
    target = (
        FrechetCellFilter(atoms, constant_volume=constant_volume) if relax.relax_cell else atoms
    )
    optimizer = OPTIMIZERS[relax.optimizer](target, logfile=None)
    optimizer.attach(lambda: check_physical(atoms, min_distance, optimizer.nsteps))
    converged = bool(optimizer.run(fmax=relax.fmax, steps=relax.max_steps))
    return converged, optimizer.nsteps


def relax_and_label(
    atoms: Atoms, calculator: Calculator, relax: RelaxConfig | None, min_distance: float
) -> Labels:
    """Attach ``calculator`` to ``atoms``, relax them if ``relax`` is given, and label the final
    geometry. ``atoms`` is changed in place.

    Raises :class:`OracleFailure` (``EXPLODED``) as soon as a step leaves physical ground.
    """
    atoms.calc = calculator
    converged = steps = None
    if relax is not None:
        converged, steps = relax_atoms(atoms, relax, min_distance)
    check_physical(atoms, min_distance)
    magmoms, total = magnetic_moments(atoms)
    return Labels(
        atoms=atoms,
        energy=float(atoms.get_potential_energy()),
        forces=np.asarray(atoms.get_forces()),
        stress=optional(lambda: atoms.get_stress(voigt=True)),
        magmoms=magmoms,
        total_magnetization=total,
        relaxation_converged=converged,
        relaxation_steps=steps,
    )
