"""Condition targets, classifier-free guidance and guided generation end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from matterloop.data.tensors import collate, structure_to_tensors
from matterloop.generator.conditioning import (
    AdaptedGenerator,
    AdaptedModel,
    PropertySpec,
    parse_targets,
    split_condition,
)
from matterloop.generator.conditioning.finetune import finetune_adapters
from matterloop.generator.conditioning.targets import parse_target
from matterloop.generator.guided import generate
from matterloop.generator.model import CrystalState, classifier_free_guidance

MAG = PropertySpec.fit("mag_density", np.linspace(0.0, 0.4, 101))
SPECS = {
    "mag_density": MAG,
    "chemical_system": PropertySpec.fit("chemical_system"),
    "space_group": PropertySpec.fit("space_group"),
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mag_density=0.2", ("mag_density", "0.2")),
        ("mag_density>0.15", ("mag_density", ">0.15")),
        ("hhi < 1500", ("hhi", "<1500")),
        ("0.1<band_gap<2", ("band_gap", "0.1<x<2")),
        ("chemical_system=Li-Co-O", ("chemical_system", "Li-Co-O")),
        ("space_group=225", ("space_group", "225")),
    ],
)
def test_split_condition(text: str, expected: tuple[str, str]) -> None:
    assert split_condition(text) == expected


@pytest.mark.parametrize("text", ["mag_density", "=0.2", "0.1<band_gap", "1<x<y<2"])
def test_unreadable_conditions_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="cannot read condition"):
        split_condition(text)


def test_range_targets_are_drawn_inside_the_range_and_the_data() -> None:
    rng = np.random.default_rng(0)
    above = np.array(parse_target(MAG, ">0.15").draw(2000, rng))
    assert above.min() >= 0.15 and above.max() <= MAG.high
    assert abs(np.median(above) - (0.15 + MAG.high) / 2) < 0.01
    between = np.array(parse_target(MAG, "0.1<x<0.2").draw(500, rng))
    assert between.min() >= 0.1 and between.max() <= 0.2
    assert parse_target(MAG, ">5").draw(2, rng) == [5.0, 5.0]  # beyond the data: the bound
    assert parse_target(MAG, 0.3).draw(3, rng) == [0.3] * 3
    assert parse_target(MAG, np.float32(0.25)).value == pytest.approx(0.25)
    assert parse_target(SPECS["space_group"], np.int64(225)).value == 225


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("mag_density", "0.3<x<0.1", "empty range"),
        ("mag_density", "lots", "cannot read 'lots'"),
        ("mag_density", math.inf, "out of the property's domain"),
        ("chemical_system", "Li-Qq", "unknown element 'Qq'"),
        ("chemical_system", 3, "expected a system"),
        ("space_group", 231, "expected a number 1-230"),
        ("space_group", "Fm-3m", "expected a number 1-230"),
        ("band_gap", 1.0, "no adapter for 'band_gap'"),
    ],
)
def test_bad_targets_are_clear_errors(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_targets(SPECS, {name: value})


def test_guidance_limits_are_the_conditional_and_unconditional_models(
    tiny_generator, small_structures
) -> None:
    torch.manual_seed(0)
    model = AdaptedModel(tiny_generator.model, list(SPECS.values()))
    for parameter in model.adapters.parameters():
        torch.nn.init.normal_(parameter, std=0.2)
    batch = collate([structure_to_tensors(s) for s in small_structures])
    state, t = CrystalState.from_batch(batch), torch.full((4,), 0.5)
    conditions = model.encode(
        {"mag_density": [0.3] * 4, "chemical_system": ["Fe-O"] * 4, "space_group": [225] * 4}, 4
    )
    with torch.no_grad():
        conditional = model(state, t, conditions)
        unconditional = model(state, t, model.unconditional(4))
        assert not torch.allclose(conditional.type_logits, unconditional.type_logits)
        for gamma, expected in ((1.0, conditional), (0.0, unconditional)):
            guided = model.guided_score_fn(conditions, gamma)(state, t)
            for name in ("coordinates", "lattice", "type_logits"):
                assert torch.equal(getattr(guided, name), getattr(expected, name))
        guided = model.guided_score_fn(conditions, 2.0)(state, t)
    mixed = classifier_free_guidance(unconditional, conditional, 2.0)
    assert torch.equal(guided.coordinates, mixed.coordinates)
    assert torch.allclose(guided.lattice, 2 * conditional.lattice - unconditional.lattice)


def test_multi_property_finetuning_and_guided_generation(
    tiny_generator, labeled_structures, tmp_path
) -> None:
    structures, labels = labeled_structures
    base = tmp_path / "base.pt"
    tiny_generator.save(base)
    path = finetune_adapters(
        base, structures, labels, ["mag_density", "chemical_system"], tmp_path / "a.pt", steps=3
    )
    adapted = AdaptedGenerator.load(path)
    assert list(adapted.model.specs) == ["magnetic_density", "chemical_system"]  # canonical
    conditions = {"mag_density": ">0.15", "chemical_system": "Fe-O"}
    first = generate(path, 5, steps=3, conditions=conditions, batch_size=3, seed=1)
    assert len(first.structures) == 5 and first.num_dropped == 0
    again = generate(path, 5, steps=3, conditions=conditions, batch_size=3, seed=1)
    assert [s.composition for s in again.structures] == [s.composition for s in first.structures]
    assert np.allclose(again.structures[4].frac_coords, first.structures[4].frac_coords)
    assert len(generate(path, 2, steps=2).structures) == 2  # no conditions: unconditional mode
    with pytest.raises(ValueError, match="need an adapted model"):
        generate(base, 2, steps=2, conditions={"mag_density": 0.1})
    with pytest.raises(ValueError, match="no adapter for 'hhi'"):
        generate(path, 2, steps=2, conditions={"hhi": 1000})


def test_generate_defaults_to_the_shipped_base_model() -> None:
    result = generate(None, 2, steps=2, batch_size=2)
    assert len(result.structures) == 2
