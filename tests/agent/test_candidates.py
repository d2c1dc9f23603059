"""Which generated structures a campaign scores: atom and element-count bounds, charge balance,
duplicates and labeled structures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from matterloop.agent.campaign.candidates import filter_candidates
from matterloop.agent.campaign.sections import FilterSettings


def rocksalt(cation: str, anion: str, a: float) -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [cation, anion], [[0] * 3, [0.5] * 3]
    )


IRON = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
SALT = rocksalt("Na", "Cl", 5.64)
WRONG_SALT = rocksalt("Mg", "Cl", 5.2)  # MgCl: no oxidation states balance it
ALLOY = Structure(Lattice.cubic(2.9), ["Fe", "Co"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def settings(**values) -> FilterSettings:
    return FilterSettings(novelty_reference=None, **values)


def test_element_bounds_drop_elemental_cells_and_count_them() -> None:
    kept = filter_candidates([IRON, SALT, ALLOY], [], ["hhi_production"], settings(min_elements=2))
    assert [s.composition.reduced_formula for s in kept.structures] == ["NaCl", "FeCo"]
    assert kept.report.too_few_elements == 1 and kept.report.kept == 2
    assert len(kept.values["hhi_production"]) == 2
    fewer = filter_candidates([IRON, SALT], [], [], settings(max_elements=1))
    assert [s.composition.reduced_formula for s in fewer.structures] == ["Fe"]
    assert fewer.report.too_many_elements == 1


def test_cells_above_the_atom_cap_are_dropped_and_counted() -> None:
    capped = filter_candidates([IRON, SALT, ALLOY], [], [], settings(max_atoms=2))
    assert [len(s) for s in capped.structures] == [2, 2]  # SALT's conventional cell has 8
    assert capped.report.too_many_atoms == 1
    assert filter_candidates([SALT], [], [], settings()).report.too_many_atoms == 0


def test_charge_balance_is_required_only_when_asked() -> None:
    loose = filter_candidates([SALT, WRONG_SALT, ALLOY], [], [], settings())
    assert loose.report.kept == 3
    strict = filter_candidates([SALT, WRONG_SALT, ALLOY], [], [], settings(require_smact=True))
    assert strict.report.not_charge_balanced == 1
    # SMACT treats an all-metal cell as valid (an alloy needs no charge balance)
    assert {s.composition.reduced_formula for s in strict.structures} == {"NaCl", "FeCo"}


def test_excluded_elements_are_left_out_and_radioactive_names_them_all() -> None:
    technetium = Structure(Lattice.cubic(3.0), ["Tc", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    uranium = rocksalt("U", "N", 4.89)
    cadmium = rocksalt("Cd", "O", 4.7)
    generated = [technetium, uranium, cadmium, SALT, ALLOY]
    kept = filter_candidates(generated, [], [], settings(exclude_elements=["radioactive", "Cd"]))
    assert [s.composition.reduced_formula for s in kept.structures] == ["NaCl", "FeCo"]
    assert kept.report.excluded_element == 3 and kept.report.kept == 2
    assert filter_candidates(generated, [], [], settings()).report.excluded_element == 0
    excluded = settings(exclude_elements=["radioactive"]).exclude_elements
    assert {"Tc", "Pm", "Po", "U", "Pu"} <= set(excluded) and not {"Bi", "Pb"} & set(excluded)
    with pytest.raises(ValidationError, match="'Xx' is neither an element symbol"):
        settings(exclude_elements=["Xx"])


def test_duplicates_and_labeled_structures_are_left_out() -> None:
    bigger = SALT.copy()
    bigger.make_supercell([2, 1, 1])
    kept = filter_candidates([SALT, bigger, ALLOY], [ALLOY], [], settings())
    assert [s.composition.reduced_formula for s in kept.structures] == ["NaCl"]
    assert kept.report.duplicate == 1 and kept.report.already_labeled == 1


def test_an_empty_element_range_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match=r"min_elements \(3\) is above max_elements \(2\)"):
        FilterSettings(min_elements=3, max_elements=2)
