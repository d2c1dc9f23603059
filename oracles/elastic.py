"""Elastic properties from a calculator: the bulk modulus by an equation-of-state fit."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.eos import EquationOfState
from ase.units import GPa

from oracles.result import FailureKind, OracleFailure

EOS_STRAIN = 0.06
"""Largest relative volume change of the fit, each way."""
EOS_POINTS = 7


def bulk_modulus(atoms: Atoms, strain: float = EOS_STRAIN, points: int = EOS_POINTS) -> float:
    """Bulk modulus (GPa) of ``atoms`` (calculator attached, ideally relaxed): energies at
    ``points`` volumes from ``1 - strain`` to ``1 + strain`` times the volume, fractional
    positions and cell shape kept, fitted with the Birch–Murnaghan equation of state (ASE).
    ``atoms`` is left unchanged.

    Raises:
        OracleFailure (``invalid_property``): E(V) with its minimum outside the sampled volumes,
            a fit that fails, or a modulus that is not positive and finite.
    """
    volumes, energies = [], []
    for scale in np.linspace(1 - strain, 1 + strain, points):
        strained = atoms.copy()
        strained.calc = atoms.calc
        strained.set_cell(atoms.cell * scale ** (1 / 3), scale_atoms=True)
        volumes.append(strained.get_volume())
        energies.append(strained.get_potential_energy())
    lowest = int(np.argmin(energies))
    if lowest in (0, points - 1):
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY,
            f"E(V) has no minimum within ±{strain:.0%} of the volume (lowest energy at the "
            f"{'smallest' if lowest == 0 else 'largest'} volume): the structure is not at its "
            "equilibrium volume",
        )
    try:
        _, _, modulus = EquationOfState(volumes, energies, eos="birchmurnaghan").fit(warn=False)
    except (RuntimeError, ValueError) as error:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY, f"Birch–Murnaghan fit of E(V) failed: {error}"
        ) from error
    modulus = float(modulus) / GPa
    if not np.isfinite(modulus) or modulus <= 0:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY, f"the E(V) fit gives a bulk modulus of {modulus} GPa"
        )
    return modulus
