"""Convex hulls: the MP-20 DFT formation-energy hull, hulls computed with CHGNet, the complete
CHGNet hull of all MP-20 entries, footings that are never mixed, and a hull that grows."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from matterloop.oracles import CHGNetOracle, Provenance
from matterloop.oracles.hull import MP2020, ReferenceHull
from matterloop.oracles.references import complete_hull, shipped_hull


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


@pytest.fixture(scope="module")
def complete_chgnet_hull(data_dir: Path) -> ReferenceHull:
    return complete_hull("chgnet", data_dir)


def test_complete_hull_holds_every_mp20_composition(complete_chgnet_hull: ReferenceHull) -> None:
    partial = shipped_hull("chgnet")
    assert partial.footing == MP2020 and not partial.complete  # a version-1 file
    assert complete_chgnet_hull.complete and complete_chgnet_hull.source == partial.source
    # 37,217 MP-20 compositions; only Ne, which has no elemental reference, is left out
    assert len(complete_chgnet_hull.energies) == 37_216
    assert "SrF2" in complete_chgnet_hull.converted and "SrF2" not in partial.energies
    # computed compounds keep CHGNet's energy unless an entry without positions lies lower
    assert "NaCl" not in complete_chgnet_hull.converted
    assert complete_chgnet_hull.energies["NaCl"] == partial.energies["NaCl"]


def test_complete_hull_uses_mp_formation_energy_on_chgnet_references(
    complete_chgnet_hull: ReferenceHull,
) -> None:
    """The rule: E/atom = ΔH_f(MP) + Σ x μ(CHGNet); MP's lowest SrF2 is −4.2326 eV/atom."""
    formation = complete_chgnet_hull.formation_energy("SrF2", complete_chgnet_hull.energies["SrF2"])
    assert formation == pytest.approx(-4.232558, abs=1e-5)


def test_a_cell_whose_competing_phases_lack_positions_is_placed_against_them(
    chgnet_oracle: CHGNetOracle, complete_chgnet_hull: ReferenceHull
) -> None:
    """Fluorite SrF2 built by hand: no Sr-F compound of MP-20 has positions here, so on the hull
    of computed structures it lies ~4 eV/atom *below* the hull (Sr and F₂ only); on the complete
    hull it meets MP's SrF2 (fluorite) and sits on it within the footings' error bar."""
    fluorite = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.80), ["Sr", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    (result,) = chgnet_oracle.evaluate([fluorite])
    assert result.converged

    assert shipped_hull("chgnet").e_above_hull_of(result) < -3.5
    assert complete_chgnet_hull.e_above_hull_of(result) == pytest.approx(0.0, abs=0.1)


def test_footings_are_never_mixed(complete_chgnet_hull: ReferenceHull, mp20_hull) -> None:
    own = ReferenceHull(
        {"Cu": -3.5, "Au": -3.2}, source="ase (EMT)", energy_kind="total", footing=None
    )
    assert own.footing == "own: ase (EMT)"
    for hull in (own, mp20_hull):
        with pytest.raises(ValueError, match="cannot be completed with MP's DFT formation"):
            hull.completed_with_mp20()
    with pytest.raises(ValueError, match="that would mix footings"):
        own.completed_with_mp20()


def test_complete_hull_round_trips_with_its_footing(
    complete_chgnet_hull: ReferenceHull, tmp_path: Path
) -> None:
    path = tmp_path / "complete.json.gz"
    complete_chgnet_hull.save(path)
    loaded = ReferenceHull.load(path)
    assert (loaded.footing, loaded.converted) == (MP2020, complete_chgnet_hull.converted)
    assert loaded.energies == complete_chgnet_hull.energies


def test_hull_grown_by_campaign_results() -> None:
    """Two results of one composition below the reference hull: the lower is measured against
    everything else (negative), the higher against the lower; another composition of the system
    against the tie lines the results make."""
    hull = ReferenceHull({"Fe": -8.0, "O2": -5.0, "FeO": -7.0}, source="test", energy_kind="total")
    entries = [("FeO2", -7.3), ("FeO2", -7.5), ("FeO", -6.9), ("Fe", -7.9)]
    low_alone = hull.e_above_hull("FeO2", -7.5)
    assert low_alone < hull.e_above_hull("FeO2", -7.3) < 0  # both below the reference hull

    higher, lower, feo, iron = hull.e_above_hull_among(entries)
    assert lower == pytest.approx(-0.2)  # below the hull of everything else, the other FeO2 too
    assert higher == pytest.approx(0.2)  # above the lower one, no longer below any hull
    # FeO now lies above the tie line Fe – FeO2(−7.5): −8 + ¾ · 0.5 = −7.625 eV/atom
    assert feo == pytest.approx(-6.9 + 7.625)
    assert iron == pytest.approx(0.1)
    assert math.isnan(hull.e_above_hull_among([("FeS", -6.0)])[0])  # no S reference
