"""Symmetric-lattice VP diffusion."""

from __future__ import annotations

import pytest
import torch

from matterloop.generator.diffusion.lattice import (
    LatticeDiffusion,
    symmetric_noise,
    symmetrize_lattice,
)


def random_rotations(count: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``(count, 3, 3)`` proper rotations (QR of Gaussian matrices, sign-fixed)."""
    q, r = torch.linalg.qr(torch.randn(count, 3, 3, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)
    return q * torch.sign(torch.linalg.det(q)).reshape(-1, 1, 1)


def test_symmetrize_keeps_gram_matrix_and_removes_rotation() -> None:
    torch.manual_seed(0)
    lattice = torch.randn(64, 3, 3, dtype=torch.float64) + 4 * torch.eye(3, dtype=torch.float64)
    lattice = lattice * torch.sign(torch.linalg.det(lattice)).reshape(-1, 1, 1)
    sym = symmetrize_lattice(lattice)
    assert torch.allclose(sym, sym.transpose(-1, -2), atol=1e-12)
    assert bool((torch.linalg.eigvalsh(sym) > 0).all())
    assert torch.allclose(sym @ sym.transpose(-1, -2), lattice @ lattice.transpose(-1, -2))
    rotated = lattice @ random_rotations(64).transpose(-1, -2)
    assert torch.allclose(symmetrize_lattice(rotated), sym, atol=1e-10)
    # L = P V with V a proper rotation: the same crystal, rigidly rotated.
    v = torch.linalg.solve(sym, lattice)
    assert torch.allclose(v @ v.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(v))
    assert torch.allclose(torch.linalg.det(v), torch.ones(64, dtype=torch.float64))
    assert torch.allclose(symmetrize_lattice(sym), sym, atol=1e-10)


def test_symmetric_noise_has_unit_variance_entries() -> None:
    torch.manual_seed(0)
    noise = symmetric_noise((50_000, 3, 3), torch.float64, torch.device("cpu"))
    assert torch.equal(noise, noise.transpose(-1, -2))
    assert torch.allclose(noise.var(0), torch.ones(3, 3, dtype=torch.float64), atol=0.03)
    assert noise[:, 0, 1].dot(noise[:, 0, 2]).item() / 50_000 == pytest.approx(0.0, abs=0.02)


@pytest.mark.parametrize("num_atoms", [1, 8, 20])
def test_limit_distribution(num_atoms: int) -> None:
    torch.manual_seed(0)
    process = LatticeDiffusion(density=0.0577)
    n = torch.full((40_000,), num_atoms)
    samples = process.prior_sample(n, torch.float64)
    side = (num_atoms / 0.0577) ** (1 / 3)
    mean = samples.mean(0)
    assert torch.allclose(mean, side * torch.eye(3, dtype=torch.float64), atol=0.02 * side)
    # The mean cell has the data's atomic density.
    assert num_atoms / torch.linalg.det(mean).item() == pytest.approx(0.0577, rel=0.02)
    variance = 0.25 * num_atoms ** (2 / 3)
    assert torch.allclose(
        samples.var(0), torch.full((3, 3), variance, dtype=torch.float64), rtol=0.03
    )


def test_forward_marginal_reaches_the_limit_from_data() -> None:
    torch.manual_seed(0)
    process = LatticeDiffusion()
    lattice0 = torch.diag(torch.tensor([3.0, 4.0, 9.0], dtype=torch.float64)).expand(30_000, 3, 3)
    n = torch.full((30_000,), 4)
    at_one, _ = process.sample_marginal(lattice0, torch.ones(30_000, dtype=torch.float64), n)
    limit = process.limit_mean(n[:1], torch.float64)[0]
    assert torch.allclose(at_one.mean(0), limit, atol=0.05)
    assert torch.allclose(
        at_one.var(0), torch.full((3, 3), 0.25 * 4 ** (2 / 3)).double(), rtol=0.03
    )
    near_zero, _ = process.sample_marginal(lattice0, torch.full((30_000,), 1e-4).double(), n)
    assert (near_zero - lattice0).abs().max().item() < 0.05


def test_ancestral_step_with_exact_score_keeps_the_marginal() -> None:
    """From L_t ~ q(L_t | L_0), one predictor step with the exact score lands on q(L_s | L_0)."""
    torch.manual_seed(0)
    process = LatticeDiffusion()
    count = 40_000
    lattice0 = symmetrize_lattice(torch.tensor([[4.0, 0.5, 0.0], [0.0, 5.0, 0.2], [0.3, 0.0, 6.0]]))
    lattice0 = lattice0.double().expand(count, 3, 3)
    n = torch.full((count,), 6)
    t_now = torch.full((count,), 0.6, dtype=torch.float64)
    t_next = torch.full((count,), 0.45, dtype=torch.float64)
    lattice_t, noise = process.sample_marginal(lattice0, t_now, n)
    score = -noise / process.std(t_now, n)
    lattice_s = process.predictor_step(lattice_t, score, t_now, t_next, n)
    expected_mean = process.marginal_mean(lattice0[:1], t_next[:1], n[:1])[0]
    expected_std = process.std(t_next[:1], n[:1]).item()
    assert torch.allclose(lattice_s.mean(0), expected_mean, atol=0.02)
    assert torch.allclose(lattice_s.std(0), torch.full((3, 3), expected_std).double(), rtol=0.02)
    final = process.predictor_step(lattice_t, score, t_now, torch.zeros_like(t_now), n, False)
    assert torch.allclose(final, lattice0, atol=1e-8)


def test_loss_vanishes_for_the_exact_score() -> None:
    process = LatticeDiffusion()
    noise = symmetric_noise((5, 3, 3), torch.float64, torch.device("cpu"))
    std = torch.rand(5, 1, 1, dtype=torch.float64) + 0.1
    assert process.loss(-noise / std, noise, std).abs().max().item() < 1e-24
    assert process.loss(torch.zeros_like(noise), noise, std).min().item() > 0


def test_corrector_with_exact_score_keeps_the_marginal() -> None:
    """Langevin steps with the exact score of q(L_t | L_0) leave that Gaussian (nearly) in place:
    each step of size h inflates the variance by a factor 1 + (h/std²)² ≈ 1.006 at snr 0.2."""
    torch.manual_seed(0)
    process = LatticeDiffusion()
    count = 40_000
    cell = torch.tensor([[4.0, 0.5, 0.0], [0.0, 5.0, 0.2], [0.3, 0.0, 6.0]], dtype=torch.float64)
    lattice0 = symmetrize_lattice(cell)
    lattice0 = (0.5 * (lattice0 + lattice0.T)).expand(count, 3, 3)
    n = torch.full((count,), 6)
    t_now = torch.full((count,), 0.3, dtype=torch.float64)
    t_next = torch.full((count,), 0.299, dtype=torch.float64)
    lattice, _ = process.sample_marginal(lattice0, t_now, n)
    mean = process.marginal_mean(lattice0, t_now, n)
    std = process.std(t_now, n)
    for _ in range(3):
        score = -(lattice - mean) / std**2
        lattice = process.corrector_step(lattice, score, 0.2, t_now, t_next, n)
    assert torch.allclose(lattice, lattice.transpose(-1, -2), atol=1e-12)
    assert torch.allclose(lattice.mean(0), mean[0], atol=0.02)
    assert torch.allclose(lattice.std(0), std[0].expand(3, 3), rtol=0.03)
