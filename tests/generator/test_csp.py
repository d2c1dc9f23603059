"""Crystal-structure prediction: sampling with the composition fixed, and the compositions a
chemical system proposes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Composition
from smact.screening import smact_validity

from matterloop.data.properties import ConditionError
from matterloop.generator.compositions import KNOWN_WEIGHT, propose_compositions
from matterloop.generator.csp import CompositionProjection, cell_atom_counts, parse_composition
from matterloop.generator.diffusion.atom_types import MASK_TOKEN
from matterloop.generator.guided import generate, generate_batches
from matterloop.generator.model import CrystalState
from matterloop.generator.sampling import SamplerConfig

UNIFORM_TO_20 = [0.0] + [1 / 20] * 20


def test_a_fixed_composition_is_exactly_what_sampling_returns(tiny_generator) -> None:
    batches = generate_batches(
        tiny_generator,
        6,
        config=SamplerConfig(num_steps=4),
        composition=parse_composition("NaCl"),
        batch_size=3,
    )
    structures = [s for result, _ in batches for s in result.structures]
    assert len(structures) == 6
    for structure in structures:  # 2 or 4 atoms: the tiny model's cells hold 1-4
        assert structure.composition.reduced_formula == "NaCl" and len(structure) in (2, 4)


def test_the_projection_types_unmasked_atoms_only() -> None:
    projection = CompositionProjection([[11, 17], [8]])
    tokens = torch.tensor([MASK_TOKEN, 5, 30])
    state = CrystalState(
        tokens,
        torch.zeros(3, 3),
        torch.eye(3).repeat(2, 1, 1),
        torch.tensor([2, 1]),
        torch.tensor([0, 0, 1]),
    )
    assert projection(state).tokens.tolist() == [MASK_TOKEN, 16, 7]
    revealing = CompositionProjection([[11, 17], [8]], reveal_all=True)  # visible-types model
    assert revealing(state).tokens.tolist() == [10, 16, 7]


@pytest.mark.parametrize(
    ("formula", "num_atoms", "message"),
    [
        ("Xx2O", None, "unknown element Xx"),
        ("Li-O", None, "not a chemical formula"),
        ("NaCl0.5", None, "whole numbers of atoms"),
        ("LiFePO4", 10, "10 atoms are not a whole number of LiFePO4 formula units"),
        ("Li11Fe6P4O1", None, "one formula unit of Li11Fe6P4O has 22 atoms"),
    ],
)
def test_impossible_compositions_are_clear_errors(formula, num_atoms, message) -> None:
    with pytest.raises(ConditionError, match=message):
        cell_atom_counts(parse_composition(formula), num_atoms)


def test_the_shipped_model_predicts_structures_of_a_composition() -> None:
    result = generate(None, 2, steps=10, batch_size=2, composition="LiFePO4")
    assert [s.composition.reduced_formula for s in result.structures] == ["LiFePO4"] * 2


def test_an_oxide_system_proposes_charge_balanced_compositions_of_it() -> None:
    proposals = propose_compositions("Li-Fe-P-O", UNIFORM_TO_20)
    system = {"Li", "Fe", "P", "O"}
    formulas = {c.reduced_formula for c in proposals.compositions}
    assert {"LiFePO4", "Li3PO4", "Fe2O3", "FePO4"} <= formulas
    assert not formulas & {"LiO4", "PO15", "O2", "LiFe7PO5", "Li", "LiFe"}
    for composition in proposals.compositions:
        assert {el.symbol for el in composition} <= system and len(composition) >= 2
        assert smact_validity(composition, include_alloys=False)  # MatterGen's SMACT check too
    assert proposals.share(lambda c: len(c) >= 3) >= 0.7
    assert proposals.weights.sum() == pytest.approx(1.0)

    known = propose_compositions("Li-Fe-P-O", UNIFORM_TO_20, known={"LiFePO4"})
    index = [c.reduced_formula for c in proposals.compositions].index("LiFePO4")
    ratio = known.weights[index] / proposals.weights[index]
    assert ratio == pytest.approx(KNOWN_WEIGHT, rel=0.01)
    drawn = proposals.draw(200, np.random.default_rng(0))
    assert sum(len(c) >= 3 for c in drawn) >= 140


def test_an_intermetallic_system_proposes_alloys_and_no_elements() -> None:
    proposals = propose_compositions("Fe-Co-Ni", UNIFORM_TO_20)
    assert Composition("FeCoNi2") in proposals.compositions
    assert all(len(c) >= 2 for c in proposals.compositions)


def test_a_system_without_a_balanced_composition_is_refused() -> None:
    with pytest.raises(
        ConditionError, match="no charge-balanced composition of two or more of He-Ne"
    ):
        propose_compositions("He-Ne", UNIFORM_TO_20)
    with pytest.raises(ConditionError, match="unknown element 'Xx'"):
        propose_compositions("Li-Xx", UNIFORM_TO_20)
