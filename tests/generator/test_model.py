"""The joint diffusion model: loss, training and configuration."""

from __future__ import annotations

import pytest
import torch
from pymatgen.core import Structure

from matterloop.data.tensors import CrystalBatch, collate, structure_to_tensors
from matterloop.generator.model import (
    CrystalState,
    DiffusionModel,
    DiffusionModelConfig,
    ScoreOutput,
    classifier_free_guidance,
)
from matterloop.generator.network import ScoreNetworkConfig

SMALL = DiffusionModelConfig(
    network=ScoreNetworkConfig(hidden_dim=64, num_blocks=2, num_frequencies=8)
)


def fixed_loss(model: DiffusionModel, batch: CrystalBatch) -> float:
    """Total loss averaged over a grid of times, with the same noise on every call."""
    state = torch.get_rng_state()
    torch.manual_seed(1234)
    with torch.no_grad():
        losses = [
            model.loss(batch, t=torch.full((batch.num_crystals,), t)).total.item()
            for t in (0.05, 0.2, 0.4, 0.6, 0.8)
        ]
    torch.set_rng_state(state)
    return sum(losses) / len(losses)


def test_loss_parts_and_weights(small_batch: CrystalBatch) -> None:
    torch.manual_seed(0)
    model = DiffusionModel(SMALL).double()
    loss = model.loss(small_batch)
    parts = (loss.coordinates, loss.lattice, loss.atom_types)
    assert all(p.ndim == 0 and torch.isfinite(p) and p > 0 for p in parts)
    expected = 0.1 * loss.coordinates + loss.lattice + loss.atom_types
    assert torch.allclose(loss.total, expected)
    loss.total.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_density_must_agree_between_prior_and_network() -> None:
    with pytest.raises(ValueError, match="density"):
        DiffusionModelConfig(network=ScoreNetworkConfig(density=0.05))
    config = DiffusionModelConfig().with_density(0.05)
    assert config.network.density == config.lattice.density == 0.05


def test_scores_at_a_given_state_have_the_batch_shapes(small_batch: CrystalBatch) -> None:
    model = DiffusionModel(SMALL).double()
    state = CrystalState.from_batch(small_batch)
    scores = model(state, torch.full((small_batch.num_crystals,), 0.5, dtype=torch.float64))
    assert scores.coordinates.shape == small_batch.frac_coords.shape
    assert scores.lattice.shape == small_batch.lattice.shape
    assert scores.type_logits.shape == (small_batch.frac_coords.shape[0], 100)


def test_classifier_free_guidance_mixes_every_output() -> None:
    a = ScoreOutput(torch.zeros(2, 3), torch.zeros(1, 3, 3), torch.zeros(2, 100))
    b = ScoreOutput(torch.ones(2, 3), torch.ones(1, 3, 3), torch.ones(2, 100))
    guided = classifier_free_guidance(a, b, gamma=2.0)
    for name in ("coordinates", "lattice", "type_logits"):
        assert torch.equal(getattr(guided, name), 2 * torch.ones_like(getattr(a, name)))
    same = classifier_free_guidance(a, b, gamma=1.0)
    assert torch.equal(same.lattice, b.lattice)


def test_tiny_training_run_reduces_the_loss(small_structures: list[Structure]) -> None:
    torch.manual_seed(0)
    batch = collate([structure_to_tensors(s) for s in small_structures * 2])
    model = DiffusionModel(SMALL)
    before = fixed_loss(model, batch)
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-3)
    for _ in range(120):
        loss = model.loss(batch)
        optimizer.zero_grad()
        loss.total.backward()
        optimizer.step()
    after = fixed_loss(model, batch)
    assert after < 0.8 * before, (before, after)


def test_crystals_shown_with_visible_types_carry_no_type_loss(small_batch: CrystalBatch) -> None:
    torch.manual_seed(0)
    visible = DiffusionModel(
        DiffusionModelConfig(network=SMALL.network, visible_types_fraction=1.0)
    ).double()
    t = torch.full((small_batch.num_crystals,), 0.9, dtype=torch.float64)
    loss = visible.loss(small_batch, t=t)
    assert loss.atom_types == 0 and torch.isfinite(loss.total) and loss.coordinates > 0
    loss.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in visible.parameters() if p.grad is not None)
    joint = DiffusionModel(SMALL).double()
    assert joint.loss(small_batch, t=t).atom_types > 0  # the same times mask most types
