"""Wrapped VE diffusion of fractional coordinates."""

from __future__ import annotations

import math

import pytest
import torch

from matterloop.generator.diffusion.coordinates import (
    CoordinateDiffusion,
    wrapped_normal_log_prob,
    wrapped_normal_score,
)

SIGMAS = [0.002, 0.01, 0.1, 0.3, 0.4999, 0.5001, 0.8, 2.0, 5.0]


def brute_force_log_prob(d: torch.Tensor, sigma: float) -> torch.Tensor:
    """Wrapped normal summed over 401 images, float64."""
    images = torch.arange(-200, 201, dtype=torch.float64)
    terms = -((d.unsqueeze(-1) + images) ** 2) / (2 * sigma**2)
    return torch.logsumexp(terms, -1) - math.log(math.sqrt(2 * math.pi) * sigma)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_log_prob_matches_sum_over_many_images(sigma: float) -> None:
    d = torch.linspace(-1.7, 1.7, 341, dtype=torch.float64)
    expected = brute_force_log_prob(d, sigma)
    actual = wrapped_normal_log_prob(d, torch.full_like(d, sigma))
    # Compare densities where they are not vanishingly small, log densities everywhere else.
    assert torch.allclose(actual.exp(), expected.exp(), rtol=1e-10, atol=1e-12)
    finite = expected > -600
    assert torch.allclose(actual[finite], expected[finite], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sigma", [0.01, 0.3, 0.7, 3.0])
def test_density_integrates_to_one(sigma: float) -> None:
    d = torch.linspace(0.0, 1.0, 200_001, dtype=torch.float64)
    density = wrapped_normal_log_prob(d, torch.full_like(d, sigma)).exp()
    assert torch.trapezoid(density, d).item() == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_score_is_derivative_of_log_density(sigma: float) -> None:
    d = torch.linspace(-0.49, 0.49, 99, dtype=torch.float64)
    s = torch.full_like(d, sigma)
    h = 1e-6 * min(sigma, 1.0)
    finite_difference = (wrapped_normal_log_prob(d + h, s) - wrapped_normal_log_prob(d - h, s)) / (
        2 * h
    )
    score = wrapped_normal_score(d, s)
    assert torch.allclose(score, finite_difference, rtol=1e-5, atol=1e-5 * max(1.0, 1 / sigma))


def test_score_is_periodic_and_odd() -> None:
    d = torch.linspace(-0.45, 0.45, 37, dtype=torch.float64)
    s = torch.full_like(d, 0.2)
    assert torch.allclose(wrapped_normal_score(d + 3.0, s), wrapped_normal_score(d, s))
    assert torch.allclose(wrapped_normal_score(-d, s), -wrapped_normal_score(d, s))


def test_sigma_schedule_and_atom_count_scaling() -> None:
    process = CoordinateDiffusion()
    t = torch.tensor([0.0, 0.5, 1.0, 1.0], dtype=torch.float64)
    n = torch.tensor([1, 1, 1, 8])
    sigma = process.sigma(t, n).squeeze(-1)
    expected = torch.tensor([0.01, math.sqrt(0.01 * 5.0), 5.0, 2.5], dtype=torch.float64)
    assert torch.allclose(sigma, expected)


def test_noised_coordinates_have_wrapped_normal_statistics() -> None:
    torch.manual_seed(0)
    process = CoordinateDiffusion()
    x0 = torch.full((40_000, 3), 0.3, dtype=torch.float64)
    sigma = torch.full((40_000, 1), 0.05, dtype=torch.float64)
    xt, target = process.sample_marginal(x0, sigma)
    assert bool(((xt >= 0) & (xt < 1)).all())
    displacement = xt - x0
    assert displacement.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert displacement.std().item() == pytest.approx(0.05, rel=0.01)
    # Small σ: the wrapped score is the Gaussian one, -Δ/σ².
    assert torch.allclose(target, -displacement / 0.05**2, rtol=1e-8, atol=1e-6)
    # The score of the transition kernel has zero mean and variance 1/σ² (Fisher information).
    assert (target * 0.05).mean().item() == pytest.approx(0.0, abs=0.01)
    assert (target * 0.05).var().item() == pytest.approx(1.0, rel=0.02)


def test_limit_is_uniform_on_the_torus() -> None:
    torch.manual_seed(0)
    process = CoordinateDiffusion()
    x0 = torch.full((60_000, 3), 0.9, dtype=torch.float64)
    sigma = process.sigma(torch.ones(60_000, dtype=torch.float64), torch.full((60_000,), 20))
    xt, target = process.sample_marginal(x0, sigma)
    assert xt.mean().item() == pytest.approx(0.5, abs=3e-3)
    assert xt.var().item() == pytest.approx(1 / 12, rel=0.01)
    histogram = torch.histc(xt, bins=10, min=0.0, max=1.0) / xt.numel()
    assert torch.allclose(histogram, torch.full_like(histogram, 0.1), atol=4e-3)
    assert target.abs().max().item() < 1e-12


def test_ancestral_step_with_exact_score_keeps_the_marginal() -> None:
    """From x_t ~ q(x_t | x_0), one predictor step with the exact score lands on q(x_s | x_0)."""
    torch.manual_seed(0)
    process = CoordinateDiffusion()
    x0 = torch.full((50_000, 3), 0.5, dtype=torch.float64)
    n = torch.ones(50_000, dtype=torch.long)
    sigma_now = process.sigma(torch.full((50_000,), 0.3, dtype=torch.float64), n)
    sigma_next = process.sigma(torch.full((50_000,), 0.2, dtype=torch.float64), n)
    xt, score = process.sample_marginal(x0, sigma_now)
    xs = process.predictor_step(xt, score, sigma_now, sigma_next)
    assert (xs - x0).mean().item() == pytest.approx(0.0, abs=1e-3)
    assert (xs - x0).std().item() == pytest.approx(sigma_next[0, 0].item(), rel=0.01)


def test_noise_scale_multiplies_the_noise_of_both_steps() -> None:
    """A step is ``x + drift + scale · noise`` for one noise draw: the drift (and the corrector's
    step size) do not depend on ``noise_scale``, which may differ from atom to atom."""
    process = CoordinateDiffusion()
    x = torch.full((4, 3), 0.5, dtype=torch.float64)
    score = torch.full_like(x, 25.0)  # σ s ≈ 1: steps of a few hundredths, far from wrapping
    sigma_now, sigma_next = torch.full((4, 1), 0.04), torch.full((4, 1), 0.03)
    level = torch.full((2,), 0.04, dtype=torch.float64)
    batch = torch.tensor([0, 0, 1, 1])
    steps = {
        "predictor": lambda s: process.predictor_step(x, score, sigma_now, sigma_next, True, s),
        "corrector": lambda s: process.corrector_step(x, score, 0.4, batch, level, s),
    }
    scale = torch.tensor([[1.0], [2.0], [0.5], [3.0]], dtype=torch.float64)
    for name, step in steps.items():
        results = []
        for multiple in (0.0, 1.0, 2.0):
            torch.manual_seed(0)
            results.append(step(multiple * scale))
        drift, once, twice = results
        assert not torch.allclose(once, drift), name
        assert torch.allclose(twice - drift, 2 * (once - drift)), name
        torch.manual_seed(0)
        assert torch.allclose(step(1.0) - drift, (once - drift) / scale), name
