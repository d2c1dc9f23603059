"""Stability of generated crystals with an oracle: relax, place on a hull, compare geometries.

Each structure is relaxed (positions and cell) by the oracle; its energy above the ``hull`` of the
same oracle's footing (eV/atom; the complete hull by default, see :mod:`matterloop.oracles.hull`)
decides stability, E_hull ≤ :data:`STABLE_E_HULL` (MatterGen's definition), and E_hull ≤ 0 puts it
on the hull.

The RMSD between the structure as generated and its relaxed form measures how far from a minimum
the generator put it, computed as MatterGen's ``compute_rmsd_angstrom``: pymatgen's
:meth:`~pymatgen.analysis.structure_matcher.StructureMatcher.get_rms_dist` under
:data:`RMSD_MATCHER` (ltol 0.5, stol 0.5, angle_tol 10°, primitive cells, no volume scaling,
supercells attempted), whose value is in units of (V/n)^(1/3), times (V/n)^(1/3) in Å, with V the
volume of the lattice whose parameters are the mean of the two cells'. **A pair that does not
match counts at the cap**, :data:`MAX_RMSD` × (V/n)^(1/3), never NaN, and ``rmsd_matched`` says
which did; so does a structure whose relaxation failed (its generated cell alone gives V/n).
A mean over NaN-free values would hide exactly the structures that moved most. MatterGen's
matcher reduces both cells to primitive cells (site tolerance 0.25 Å), so a displacement smaller
than that is absorbed and counts as none; the protocol is kept as it is, to stay comparable.

:class:`StabilityMetric` gives rows in the form of a ``generator.evaluation.StructureMetric``,
the relaxed structure included, so that uniqueness and novelty (for S.U.N.) are judged after
relaxation by the evaluation itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from matterloop.core.result import OracleResult
from matterloop.oracles.hull import ReferenceHull

STABLE_E_HULL = 0.1  # eV/atom
MAX_RMSD = 0.5
"""The RMSD matcher's site tolerance, in units of (V/n)^(1/3): the value of a failed match."""
RMSD_MATCHER = {
    "ltol": 0.5,
    "stol": MAX_RMSD,
    "angle_tol": 10,
    "primitive_cell": True,
    "scale": False,
    "attempt_supercell": True,
    "allow_subset": False,
}


@dataclass(frozen=True)
class Stability:
    """The stability of one structure; ``nan``/False and a ``failure`` when it could not be
    relaxed or placed on the hull."""

    e_above_hull: float
    """eV/atom, of the relaxed structure."""
    stable: bool
    """E_hull ≤ :data:`STABLE_E_HULL`."""
    on_hull: bool
    """E_hull ≤ 0."""
    rmsd: float
    """Å, generated against relaxed; :data:`MAX_RMSD` × (V/n)^(1/3) without a match."""
    rmsd_matched: bool
    relaxation_converged: bool
    failure: str = ""
    relaxed_structure: Structure | None = field(default=None, repr=False)


def length_per_atom(first: Structure, second: Structure) -> float:
    """(V/n)^(1/3) in Å, V from the mean of the two lattices' parameters, n of ``first``."""
    parameters = (np.array(first.lattice.parameters) + np.array(second.lattice.parameters)) / 2
    return (Lattice.from_parameters(*parameters).volume / len(first)) ** (1 / 3)


def rmsd_angstrom(
    generated: Structure, relaxed: Structure | None, matcher: StructureMatcher | None = None
) -> tuple[float, bool]:
    """RMS displacement (Å) from ``generated`` to ``relaxed`` and whether the two matched; a
    failed match, or no relaxed structure, is the cap (see the module docstring)."""
    if relaxed is None:
        return MAX_RMSD * length_per_atom(generated, generated), False
    matcher = matcher or StructureMatcher(**RMSD_MATCHER)
    scale = length_per_atom(generated, relaxed)
    distances = matcher.get_rms_dist(generated, relaxed)
    if distances is None:
        return MAX_RMSD * scale, False
    return float(distances[0]) * scale, True


def stability_of(
    generated: Structure,
    result: OracleResult,
    hull: ReferenceHull,
    matcher: StructureMatcher | None = None,
) -> Stability:
    """The :class:`Stability` of ``generated`` from the oracle's ``result`` for it."""
    if not result.ok:
        failure = f"{result.failure.kind.value}: {result.failure.reason}"
        distance, matched = rmsd_angstrom(generated, None)  # not relaxed: at the cap
        return Stability(math.nan, False, False, distance, matched, False, failure, None)
    distance, matched = rmsd_angstrom(generated, result.structure, matcher)
    try:
        e_hull = hull.e_above_hull_of(result)
    except ValueError as error:  # an element without reference, or another footing's hull
        return Stability(
            math.nan, False, False, distance, matched, result.converged, str(error), None
        )
    return Stability(
        e_above_hull=e_hull,
        stable=e_hull <= STABLE_E_HULL,
        on_hull=e_hull <= 0,
        rmsd=distance,
        rmsd_matched=matched,
        relaxation_converged=result.converged,
        relaxed_structure=result.structure,
    )


Evaluate = Callable[[list[Structure]], list[OracleResult]]
"""Relaxes and labels structures, one result each in order: an oracle's ``evaluate``, or a
caching wrapper of it."""


@dataclass(frozen=True)
class StabilityMetric:
    """Relax with ``evaluate`` and judge each structure on ``hull``: per-structure rows for the
    generator's evaluation (``generator.evaluation.evaluate_samples``), the relaxed structure
    under ``relaxed_structure``."""

    evaluate: Evaluate
    hull: ReferenceHull

    def __call__(self, structures: Sequence[Structure]) -> list[dict[str, Any]]:
        matcher = StructureMatcher(**RMSD_MATCHER)
        results = self.evaluate(list(structures))
        rows = []
        for structure, result in zip(structures, results, strict=True):
            stability = stability_of(structure, result, self.hull, matcher)
            row = asdict(stability)
            row["relaxed_structure"] = stability.relaxed_structure  # not a dict copy
            rows.append(row)
        return rows
