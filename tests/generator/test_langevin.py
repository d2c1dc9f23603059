"""Step size of the Langevin corrector."""

from __future__ import annotations

import pytest
import torch

from matterloop.generator.diffusion.langevin import langevin_step_size


def per_atom_batch() -> torch.Tensor:
    """Three crystals of 2, 3 and 1 atoms."""
    return torch.tensor([0, 0, 1, 1, 1, 2])


def test_one_step_for_crystals_of_one_noise_level() -> None:
    """Equal noise levels: Song et al.'s batch step ``2 (snr · mean ‖z‖ / mean ‖s‖)²``."""
    torch.manual_seed(0)
    batch = per_atom_batch()
    noise = torch.randn(6, 3, dtype=torch.float64)
    score = torch.randn(6, 3, dtype=torch.float64)
    sigma = torch.full((3,), 0.3, dtype=torch.float64)
    step = langevin_step_size(noise, score, 0.4, batch, sigma)
    noise_norms = torch.stack([noise[batch == b].norm() for b in range(3)])
    score_norms = torch.stack([score[batch == b].norm() for b in range(3)])
    expected = 2 * (0.4 * noise_norms.mean() / score_norms.mean()) ** 2
    assert step.shape == (3,)
    assert torch.allclose(step, expected.expand(3))


def test_exact_scores_give_steps_of_each_crystals_noise_level() -> None:
    """With ``s = -z'/σ_b`` (the exact Gaussian score), the step is ``2 (snr σ_b)²`` per crystal,
    up to the ratio of the two noise draws' norms."""
    torch.manual_seed(0)
    batch = torch.arange(400).repeat_interleave(20)
    sigma = torch.linspace(0.01, 0.5, 400, dtype=torch.float64)
    noise = torch.randn(8000, 3, dtype=torch.float64)
    score = -torch.randn(8000, 3, dtype=torch.float64) / sigma[batch].unsqueeze(-1)
    step = langevin_step_size(noise, score, 0.2, batch, sigma)
    assert torch.allclose(step, 2 * (0.2 * sigma) ** 2, rtol=0.02)


def test_a_crystal_with_a_small_score_gets_no_larger_step() -> None:
    """A per-crystal ratio would give the crystal whose score is 1000× smaller a 10⁶× step; here
    it only lowers the batch average by its share (one crystal of three)."""
    torch.manual_seed(0)
    batch = per_atom_batch()
    noise = torch.randn(6, 3, dtype=torch.float64)
    score = torch.randn(6, 3, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    reference = langevin_step_size(noise, score, 0.4, batch, sigma)
    score[batch == 2] *= 1e-3
    step = langevin_step_size(noise, score, 0.4, batch, sigma)
    assert step[2].item() < 4 * reference[2].item()
    assert step[2] / step[0] == pytest.approx(9.0)


def test_frozen_crystals_are_left_out_of_the_averages() -> None:
    torch.manual_seed(0)
    batch = per_atom_batch()
    noise = torch.randn(6, 3, dtype=torch.float64)
    score = torch.randn(6, 3, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    score[batch == 1] = 0.0
    step = langevin_step_size(noise, score, 0.4, batch, sigma)
    kept = batch != 1
    renumbered = torch.tensor([0, 0, 1])
    alone = langevin_step_size(noise[kept], score[kept], 0.4, renumbered, sigma[[0, 2]])
    assert step[[0, 2]].tolist() == pytest.approx(alone.tolist(), rel=1e-12)


def test_no_step_when_no_crystal_has_a_score() -> None:
    noise = torch.randn(4, 3, 3)
    step = langevin_step_size(noise, torch.zeros(4, 3, 3), 0.2, torch.arange(4), torch.ones(4))
    assert torch.equal(step, torch.zeros(4))
