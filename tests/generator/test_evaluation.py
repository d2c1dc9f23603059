"""Sample metrics on hand-made cases whose answers are known."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from matterloop.data import CrystalDataset, CrystalRecord, SkipReport
from matterloop.generator.evaluation import (
    ReferenceSet,
    compositionally_valid,
    evaluate_samples,
    structurally_valid,
)


def crystal(species, coords, a=4.0) -> Structure:
    return Structure(Lattice.cubic(a), species, coords)


@pytest.fixture
def reference() -> ReferenceSet:
    silicon = Structure(
        Lattice([[0, 2.734, 2.734], [2.734, 0, 2.734], [2.734, 2.734, 0]]),
        ["Si", "Si"],
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    )
    rocksalt = Structure(
        Lattice([[0, 2.82, 2.82], [2.82, 0, 2.82], [2.82, 2.82, 0]]),
        ["Na", "Cl"],
        [[0, 0, 0], [0.5, 0.5, 0.5]],
    )
    records = [CrystalRecord(silicon, "si"), CrystalRecord(rocksalt, "nacl")]
    return ReferenceSet(CrystalDataset.from_records(records, SkipReport("ref")), {"KCl"}, "toy")


def test_flags_and_fractions(reference):
    known_si = reference.structures.structure(0)
    strained_si = known_si.copy()
    strained_si.apply_strain(0.02)
    cscl = crystal(["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], a=4.12)
    kcl = crystal(["K", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], a=3.8)
    overlapping = crystal(["Na", "Cl"], [[0, 0, 0], [0.05, 0, 0]])
    charged = crystal(["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0.5]])
    samples = [known_si, strained_si, cscl, cscl.copy(), kcl, overlapping, charged]
    report = evaluate_samples(samples, reference)
    rows = {i: row for i, row in enumerate(report.per_structure)}
    # KCl's formula is a reference entry without positions: not proven novel
    assert [r["novel"] for r in rows.values()] == [False, False, True, True, False, True, True]
    assert rows[4]["novelty"] == "formula_without_structure" and rows[0]["novelty"] == "known"
    assert [r["unique"] for r in rows.values()] == [True, False, True, False, True, True, True]
    assert rows[5]["structurally_valid"] is False
    assert all(rows[i]["structurally_valid"] for i in (0, 1, 2, 4, 6))
    assert rows[2]["compositionally_valid"] and not rows[6]["compositionally_valid"]
    assert rows[4]["formula_in_unstructured_reference"]
    assert report.summary["novel_fraction"] == pytest.approx(4 / 7)
    assert report.summary["unique_fraction"] == pytest.approx(5 / 7)
    assert report.summary["num_structures"] == 7
    assert rows[0]["space_group"] == 227 and not rows[0]["p1"]  # diamond Si
    assert report.summary["mean_num_elements"] == pytest.approx(12 / 7)


def test_novelty_and_sun_are_judged_after_relaxation(reference):
    """A CsCl-type NaCl is novel as generated; a metric that relaxes it into the reference's rock
    salt makes it known, and so not S.U.N., though stable."""
    nacl_cscl = crystal(["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], a=3.3)
    cscl = crystal(["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]], a=4.12)
    rock_salt = reference.structures.structure(1)

    def relax(structures):
        relaxed = [rock_salt, structures[1]]
        return [{"stable": True, "relaxed_structure": r} for r in relaxed]

    report = evaluate_samples([nacl_cscl, cscl], reference, extra_metrics=[relax])
    known, novel = report.per_structure
    assert known["novel_as_generated"] and not known["novel"] and known["novelty"] == "known"
    assert not known["sun"] and novel["sun"] and novel["sun_upper"]
    assert "relaxed_structure" not in known
    assert report.summary["sun_fraction"] == pytest.approx(0.5)
    assert report.summary["novel_as_generated_fraction"] == 1.0


def test_reference_against_itself_has_zero_distances(reference):
    report = evaluate_samples(reference.structures.structures(), reference)
    assert report.summary["wasserstein_num_atoms"] == pytest.approx(0.0)
    assert report.summary["wasserstein_num_elements"] == pytest.approx(0.0)
    assert report.summary["wasserstein_atomic_number"] == pytest.approx(0.0)
    assert report.summary["novel_fraction"] == 0.0


def test_extra_metric_hook_adds_columns(reference):
    def volume_per_atom(structures):
        return [
            {"volume_per_atom": s.volume / len(s), "dense": s.volume / len(s) < 25}
            for s in structures
        ]

    report = evaluate_samples(
        reference.structures.structures(), reference, extra_metrics=[volume_per_atom]
    )
    assert "volume_per_atom" in report.per_structure[0]
    assert report.summary["dense_fraction"] == pytest.approx(1.0)
    assert report.summary["mean_volume_per_atom"] > 0


def test_nothing_to_evaluate_is_an_error(reference):
    with pytest.raises(ValueError, match="no structures"):
        evaluate_samples([], reference)


def test_compositions_beyond_the_smact_limit_are_invalid_without_enumeration():
    elements = ["Li", "Na", "K", "Rb", "Cs", "Mg", "Ca", "Sr", "Ba", "O"]
    many = Structure(
        Lattice.cubic(9.0),
        elements,
        [[i / 10, (3 * i % 10) / 10, (7 * i % 10) / 10] for i in range(10)],
    )
    assert compositionally_valid(many) is False


@pytest.mark.parametrize(
    ("lattice", "valid"),
    [
        (Lattice.cubic(3.0), True),
        (Lattice.orthorhombic(0.3, 6.0, 6.0), False),  # each atom 0.3 Å from its own image
        (Lattice.orthorhombic(2.4e11, 7.7e10, 8.7e10), False),  # a diverged sample's cell
        (Lattice.cubic(12.0), False),  # 864 Å³ per atom: no crystal is this loose
    ],
)
def test_structural_validity_bounds_the_cell(lattice, valid):
    structure = Structure(lattice, ["Cs", "Cs"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert structurally_valid(structure) is valid
