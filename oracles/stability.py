"""Stability of generated crystals with an oracle: relax, place on a hull, compare geometries.

Each structure is relaxed (positions and cell) by the oracle; its energy above the ``hull`` of the
same oracle (eV/atom) decides stability, E_hull ≤ :data:`STABLE_E_HULL` (MatterGen's definition),
and the RMSD between the structure as generated and its relaxed form measures how far from a
minimum the generator put it. The RMSD is pymatgen's
:meth:`~pymatgen.analysis.structure_matcher.StructureMatcher.get_rms_dist` under MatterGen's loose
matcher (ltol 0.5, stol 0.5, angle_tol 10°): the root-mean-square site displacement divided by
(V/n)^(1/3), the free length per atom (MatterGen reports the same quantity); ``nan`` when the two
do not match even under that matcher. A relaxation keeps the sites, so the two cells are compared
as they are (``primitive_cell=False``): reducing both to primitive cells would hide displacements
below the reduction's tolerance, or fail to match a cell that relaxed to higher symmetry.

:class:`StabilityMetric` gives rows in the form of a ``generator.evaluation.StructureMetric``;
uniqueness and novelty (for S.U.N.) come from the evaluation itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from oracles.hull import ReferenceHull
from oracles.protocol import Oracle
from oracles.result import OracleResult

STABLE_E_HULL = 0.1  # eV/atom
RMSD_MATCHER = {"ltol": 0.5, "stol": 0.5, "angle_tol": 10, "primitive_cell": False}


@dataclass(frozen=True)
class Stability:
    """The stability of one structure; ``nan``/False and a ``failure`` when it could not be
    relaxed or placed on the hull."""

    e_above_hull: float
    """eV/atom, of the relaxed structure."""
    stable: bool
    """E_hull ≤ :data:`STABLE_E_HULL`."""
    rmsd: float
    """Generated against relaxed, normalised by (V/n)^(1/3); see the module docstring."""
    relaxation_converged: bool
    failure: str = ""


def rmsd(generated: Structure, relaxed: Structure, matcher: StructureMatcher) -> float:
    """Normalised RMS displacement from ``generated`` to ``relaxed``; ``nan`` without a match."""
    distances = matcher.get_rms_dist(generated, relaxed)
    return math.nan if distances is None else float(distances[0])


def stability_of(
    generated: Structure, result: OracleResult, hull: ReferenceHull, matcher: StructureMatcher
) -> Stability:
    """The :class:`Stability` of ``generated`` from the oracle's ``result`` for it."""
    if not result.ok:
        failure = f"{result.failure.kind.value}: {result.failure.reason}"
        return Stability(math.nan, False, math.nan, False, failure)
    try:
        e_hull = hull.e_above_hull_of(result)
    except ValueError as error:  # an element without reference, or another oracle's hull
        return Stability(math.nan, False, math.nan, result.converged, str(error))
    return Stability(
        e_above_hull=e_hull,
        stable=e_hull <= STABLE_E_HULL,
        rmsd=rmsd(generated, result.structure, matcher),
        relaxation_converged=result.converged,
    )


def stability_report(
    structures: Sequence[Structure],
    oracle: Oracle,
    hull: ReferenceHull,
    matcher: StructureMatcher | None = None,
) -> list[Stability]:
    """Relax ``structures`` with ``oracle`` (configured to relax) and judge each on ``hull``,
    which must hold the same oracle's energies; ``matcher`` defaults to :data:`RMSD_MATCHER`."""
    matcher = matcher or StructureMatcher(**RMSD_MATCHER)
    results = oracle.evaluate(list(structures))
    return [stability_of(s, r, hull, matcher) for s, r in zip(structures, results, strict=True)]


@dataclass(frozen=True)
class StabilityMetric:
    """:func:`stability_report` as per-structure rows for the generator's evaluation."""

    oracle: Oracle
    hull: ReferenceHull

    def __call__(self, structures: Sequence[Structure]) -> list[dict[str, float | bool | str]]:
        return [asdict(row) for row in stability_report(structures, self.oracle, self.hull)]
