"""Stability of generated crystals: relaxation, E_hull, RMSD and failures, with ASE's EMT."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from oracles import ReferenceHull, build_oracle
from oracles.stability import STABLE_E_HULL, StabilityMetric, stability_report

EMT = {"calculator": "ase.calculators.emt:EMT", "robustness": {"isolation": "inline"}}


def fcc(element: str, a: float) -> Structure:
    """Conventional fcc cell (4 atoms), lattice parameter ``a`` in Å."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


@pytest.fixture(scope="module")
def oracle():
    return build_oracle("ase", EMT)


@pytest.fixture(scope="module")
def hull(oracle) -> ReferenceHull:
    return ReferenceHull.from_results(oracle.evaluate([fcc("Cu", 3.6), fcc("Au", 4.08)]))


def test_relaxed_elements_sit_on_the_hull_and_displacements_show_in_the_rmsd(
    oracle, hull: ReferenceHull
) -> None:
    rattled = fcc("Cu", 3.6)
    rattled.translate_sites([0], [0.15, 0.0, 0.0], frac_coords=False)
    strained, displaced = stability_report([fcc("Cu", 3.75), rattled], oracle, hull)

    for row in (strained, displaced):
        assert abs(row.e_above_hull) < 1e-3
        assert row.stable and row.relaxation_converged and not row.failure
    assert strained.rmsd < 1e-3  # the matcher scales volumes: a uniform strain costs nothing
    assert 0.01 < displaced.rmsd < 0.05  # 0.15 Å over 4 atoms, / (V/n)^(1/3) = 2.3 Å


def test_a_compound_is_judged_against_its_elements(oracle, hull: ReferenceHull) -> None:
    cuau = Structure(Lattice.cubic(3.9), ["Cu", "Au"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (row,) = stability_report([cuau], oracle, hull)
    (relaxed,) = oracle.evaluate([cuau])
    expected = hull.e_above_hull(relaxed.structure.composition, relaxed.energy_per_atom)
    assert row.e_above_hull == pytest.approx(expected)
    assert row.stable == (row.e_above_hull <= STABLE_E_HULL)
    assert np.isfinite(row.rmsd)


def test_failures_are_rows_not_exceptions(oracle, hull: ReferenceHull) -> None:
    silver = fcc("Ag", 4.09)  # EMT knows Ag; the hull has no Ag reference
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])  # EMT: no Fe
    rows = StabilityMetric(oracle, hull)([silver, iron])

    assert [row["stable"] for row in rows] == [False, False]
    assert all(math.isnan(row["e_above_hull"]) for row in rows)
    assert "no elemental reference for Ag" in rows[0]["failure"]
    assert rows[1]["failure"].startswith("calculator_error")
