"""Convex hulls: the MP-20 DFT formation-energy hull and a hull computed with CHGNet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from oracles import CHGNetOracle, Provenance
from oracles.hull import ReferenceHull


@pytest.fixture(scope="module")
def mp20_hull(data_dir: Path) -> ReferenceHull:
    return ReferenceHull.from_mp20(data_dir)


def test_mp20_hull_elements_lie_on_it(mp20_hull: ReferenceHull) -> None:
    assert len(mp20_hull.elements) == 89
    for element in ("Fe", "O", "Mn", "Li", "U"):
        assert mp20_hull.e_above_hull(element, 0.0) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("formula", "formation_energy", "mp_e_above_hull"),
    [("ThMn2", 0.0726488405459768, 0.072649), ("Li5SbS", -0.984245, 0.051744)],
)
def test_mp20_hull_reproduces_known_metastable_entries(
    mp20_hull: ReferenceHull, formula: str, formation_energy: float, mp_e_above_hull: float
) -> None:
    """MP-20 test-split entries with their MP E_hull (from the CDVAE CSV)."""
    e_hull = mp20_hull.e_above_hull(formula, formation_energy)
    assert e_hull == pytest.approx(mp_e_above_hull, abs=1e-4)
    assert mp20_hull.e_above_hull(formula, formation_energy - 0.2) < 0


def test_missing_elemental_reference_is_an_error() -> None:
    hull = ReferenceHull({"Fe": -8.3, "FeO": -7.0}, source="test", energy_kind="total")
    with pytest.raises(ValueError, match="no elemental reference for O in the hull of test"):
        hull.e_above_hull("Fe2O3", -7.5)


def test_save_load_round_trip(mp20_hull: ReferenceHull, tmp_path: Path) -> None:
    path = tmp_path / "mp20-hull.json.gz"
    mp20_hull.save(path)
    loaded = ReferenceHull.load(path)
    assert path.stat().st_size < 1_000_000
    assert loaded.energies == mp20_hull.energies
    assert (loaded.source, loaded.energy_kind) == (mp20_hull.source, "formation")
    assert loaded.e_above_hull("Li5SbS", -0.98) == pytest.approx(
        mp20_hull.e_above_hull("Li5SbS", -0.98)
    )


def test_chgnet_hull_places_only_chgnet_results(chgnet_oracle: CHGNetOracle) -> None:
    """Diamond Si and bcc Fe are the references; simple-cubic Si is a metastable polymorph."""
    diamond = Structure(
        Lattice([[0, 2.73, 2.73], [2.73, 0, 2.73], [2.73, 2.73, 0]]),
        ["Si", "Si"],
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    )
    iron = Structure(Lattice.cubic(2.86), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    simple_cubic = Structure(Lattice.cubic(2.55), ["Si"], [[0, 0, 0]])
    si, fe, sc = chgnet_oracle.evaluate([diamond, iron, simple_cubic])
    hull = ReferenceHull.from_results([si, fe])

    assert hull.energy_kind == "total" and hull.source.startswith("chgnet (")
    assert hull.e_above_hull_of(si) == pytest.approx(0.0, abs=1e-9)
    assert hull.e_above_hull_of(fe) == pytest.approx(0.0, abs=1e-9)
    assert 0.1 < hull.e_above_hull_of(sc) < 1.0

    other = dataclasses.replace(sc, provenance=Provenance("sevennet", "sevenn 0.13.0"))
    with pytest.raises(ValueError, match="energies of different oracles are not comparable"):
        hull.e_above_hull_of(other)
    with pytest.raises(ValueError, match="must come from one oracle"):
        ReferenceHull.from_results([si, other])
