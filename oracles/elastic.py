"""Elastic properties from a calculator: the bulk modulus by an equation-of-state fit."""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.eos import EquationOfState
from ase.units import GPa
from pydantic import Field

from matterloop.core.config import StrictModel
from matterloop.core.result import FailureKind, OracleFailure
from matterloop.oracles.config import RelaxConfig
from matterloop.oracles.properties import OracleProperty
from matterloop.oracles.relax import relax_atoms

EOS_STRAIN = 0.06
"""Largest relative volume change of the fit, each way."""
EOS_POINTS = 7
MINIMUM_TOLERANCE = 2e-3
"""eV/atom: how far a strained, relaxed point may lie below the relaxed structure, and how far
the fit may miss E(V) (rms), before the E(V) is refused."""

BULK_MODULUS = OracleProperty(
    "bulk_modulus", "GPa", "Birch–Murnaghan fit of E(V) around the relaxed volume"
)


class EOSConfig(StrictModel):
    """The equation-of-state fit: ``points`` volumes from ``1 - strain`` to ``1 + strain`` times
    the relaxed volume; at each, positions and cell shape relaxed at that volume (the E(V) of
    hydrostatic compression, as an experiment under pressure sees it) unless
    ``relax_each_volume`` is false (the relaxed cell scaled rigidly: clamped ions, a stiffer
    upper bound)."""

    strain: float = Field(EOS_STRAIN, gt=0, lt=0.5, description="largest relative volume change")
    points: int = Field(EOS_POINTS, ge=5, description="volumes in the fit")
    relax_each_volume: bool = Field(
        True, description="relax positions and cell shape at each volume (constant volume)"
    )


def bulk_modulus(
    atoms: Atoms,
    eos: EOSConfig | None = None,
    relax: RelaxConfig | None = None,
    min_distance: float = 0.5,
) -> float:
    """Bulk modulus (GPa) of ``atoms`` (calculator attached, relaxed): energies at ``eos.points``
    (default :class:`EOSConfig`) volumes from ``1 - eos.strain`` to ``1 + eos.strain`` times the
    volume, each relaxed at constant volume with ``relax`` when ``eos.relax_each_volume`` (and
    ``relax`` is given), fitted with the Birch–Murnaghan equation of state (ASE). ``atoms`` keeps
    its geometry; ``min_distance`` (Å) is the closest approach allowed in those relaxations.

    Raises:
        OracleFailure: ``invalid_property`` for E(V) with its minimum outside the sampled volumes,
            a structure that relaxes at another volume to well below its own energy (it was not
            at a minimum), a fit that fails or misses E(V), or a modulus that is not positive and
            finite; ``exploded`` for a relaxation at some volume that leaves physical ground.
    """
    eos = eos or EOSConfig()
    volumes, energies = [], []
    scales = np.linspace(1 - eos.strain, 1 + eos.strain, eos.points)
    for scale in scales:
        strained = atoms.copy()
        strained.calc = atoms.calc
        strained.set_cell(atoms.cell * scale ** (1 / 3), scale_atoms=True)
        if eos.relax_each_volume and relax is not None:
            relax_atoms(strained, relax, min_distance, constant_volume=True)
        volumes.append(strained.get_volume())
        energies.append(strained.get_potential_energy())
    lowest = int(np.argmin(energies))
    if lowest in (0, eos.points - 1):
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY,
            f"E(V) has no minimum within ±{eos.strain:.0%} of the volume (lowest energy at the "
            f"{'smallest' if lowest == 0 else 'largest'} volume): the structure is not at its "
            "equilibrium volume",
        )
    per_atom = np.asarray(energies) / len(atoms)
    centre = int(np.argmin(np.abs(scales - 1)))
    drop = per_atom[centre] - per_atom.min()
    if drop > MINIMUM_TOLERANCE:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY,
            f"relaxed at {scales[lowest]:.0%} of the volume, the structure lies "
            f"{1000 * drop:.0f} meV/atom below its relaxed energy: it was not at a minimum "
            "(a saddle or not fully relaxed), so E(V) has no meaning",
        )
    fit = EquationOfState(volumes, energies, eos="birchmurnaghan")
    try:
        _, _, modulus = fit.fit(warn=False)
    except (RuntimeError, ValueError) as error:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY, f"Birch–Murnaghan fit of E(V) failed: {error}"
        ) from error
    misfit = np.sqrt(np.mean((fit.func(volumes, *fit.eos_parameters) - energies) ** 2))
    if misfit / len(atoms) > MINIMUM_TOLERANCE:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY,
            f"E(V) is not a smooth curve: the Birch–Murnaghan fit misses it by "
            f"{1000 * misfit / len(atoms):.1f} meV/atom (rms)",
        )
    modulus = float(modulus) / GPa
    if not np.isfinite(modulus) or modulus <= 0:
        raise OracleFailure(
            FailureKind.INVALID_PROPERTY, f"the E(V) fit gives a bulk modulus of {modulus} GPa"
        )
    return modulus
