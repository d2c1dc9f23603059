"""Variance-preserving diffusion of the symmetric lattice matrix.

A lattice ``L`` (rows = lattice vectors, Å) is first replaced by its rotation-free part
``P = (L Lᵀ)^(1/2)``, the symmetric positive-definite factor of the polar decomposition
``L = P V`` (``V`` orthogonal). ``P`` describes the same crystal with the same fractional
coordinates, rotated rigidly (and mirrored if ``L`` was left-handed), so the diffusion can work on
the 6 free entries of a symmetric matrix.

The forward SDE is ``dL = -½ β(t) (L - μ_N) dt + (β(t) v_N)^(1/2) dW`` with symmetric noise
``dW``, ``β(t) = β_min + t (β_max - β_min)``. Its limit is a cubic cell of the data's mean atomic
density, ``μ_N = (N/ρ)^(1/3) I``, with per-entry variance ``v_N = c N^(2/3)``. (The mean cell has
density ρ; symmetric noise makes the expected volume of a draw ~11% smaller than ``N/ρ`` for
c = 0.25.)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from matterloop.generator.diffusion.langevin import langevin_step_size


def symmetrize_lattice(lattice: torch.Tensor) -> torch.Tensor:
    """The symmetric factor ``P = (L Lᵀ)^(1/2)`` of lattices ``(..., 3, 3)`` with rows as vectors.

    ``P`` has the same Gram matrix (lengths and angles) as ``L``; fractional coordinates carry over
    unchanged. Computed by SVD, ``L = W S Vᵀ`` → ``P = W S Wᵀ``.
    """
    w, s, _ = torch.linalg.svd(lattice)
    return (w * s.unsqueeze(-2)) @ w.transpose(-1, -2)


def symmetric_noise(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Standard normal symmetric matrices ``(..., 3, 3)``: the upper triangle mirrored.

    Every entry has unit variance; the 6 free entries are independent.
    """
    noise = torch.randn(shape, dtype=dtype, device=device)
    upper = torch.triu(noise)
    return upper + torch.triu(noise, diagonal=1).transpose(-1, -2)


@dataclass(frozen=True)
class LatticeDiffusion:
    """VP-SDE on symmetric lattices with an atom-count dependent limit.

    Attributes:
        beta_min, beta_max: linear noise schedule β(t), 1/time.
        density: ρ, atoms/Å³, the limit cell's atomic density (MatterGen: 0.0577 on MP-20; use the
            training data's ``DatasetStats.mean_atomic_density``).
        limit_variance_scale: ``c`` in ``v_N = c N^(2/3)``, Å² (MatterGen: 0.25).
    """

    beta_min: float = 0.1
    beta_max: float = 20.0
    density: float = 0.0577
    limit_variance_scale: float = 0.25

    def limit_mean(self, num_atoms: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``(B, 3, 3)`` cubic cells of side ``(N/ρ)^(1/3)`` Å."""
        side = (num_atoms.to(dtype) / self.density) ** (1.0 / 3.0)
        eye = torch.eye(3, dtype=dtype, device=num_atoms.device)
        return side.reshape(-1, 1, 1) * eye

    def limit_variance(self, num_atoms: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``(B, 1, 1)`` per-entry limit variance ``c N^(2/3)``, Å²."""
        return (self.limit_variance_scale * num_atoms.to(dtype) ** (2.0 / 3.0)).reshape(-1, 1, 1)

    def mean_coefficient(self, t: torch.Tensor) -> torch.Tensor:
        """``a(t) = exp(-½ ∫₀ᵗ β)``, same shape as ``t``."""
        integral = self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2
        return torch.exp(-0.5 * integral)

    def std(self, t: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 1)`` marginal standard deviation ``(v_N (1 - a(t)²))^(1/2)``, Å."""
        a = self.mean_coefficient(t).reshape(-1, 1, 1)
        return torch.sqrt(self.limit_variance(num_atoms, t.dtype) * (1 - a**2))

    def marginal_mean(
        self, lattice: torch.Tensor, t: torch.Tensor, num_atoms: torch.Tensor
    ) -> torch.Tensor:
        """``(B, 3, 3)`` mean of ``q(L_t | L_0)``: ``μ_N + a(t) (L_0 - μ_N)``."""
        mu = self.limit_mean(num_atoms, lattice.dtype)
        return mu + self.mean_coefficient(t).reshape(-1, 1, 1) * (lattice - mu)

    def sample_marginal(
        self, lattice: torch.Tensor, t: torch.Tensor, num_atoms: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``L_t ~ q(L_t | L_0)``.

        Args:
            lattice: ``(B, 3, 3)`` symmetric clean lattices (see :func:`symmetrize_lattice`), Å.
            t: ``(B,)`` times in (0, 1]; num_atoms: ``(B,)``.

        Returns:
            ``L_t`` ``(B, 3, 3)`` and the symmetric unit noise ``ε`` used, ``L_t = mean + std ε``;
            the exact score is ``-ε / std``.
        """
        noise = symmetric_noise(lattice.shape, lattice.dtype, lattice.device)
        return self.marginal_mean(lattice, t, num_atoms) + self.std(t, num_atoms) * noise, noise

    def loss(self, score: torch.Tensor, noise: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """Denoising score matching with weight std², i.e. ``mean (std·ŝ + ε)²`` over 3×3 entries.

        Args:
            score: ``(B, 3, 3)`` predicted score, 1/Å; noise: ``(B, 3, 3)``; std: ``(B, 1, 1)``.

        Returns:
            ``(B,)`` loss per crystal.
        """
        return ((std * score + noise) ** 2).mean(dim=(-1, -2))

    def prior_sample(self, num_atoms: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``(B, 3, 3)`` draws from the limit ``N(μ_N, v_N)`` (symmetric)."""
        noise = symmetric_noise((num_atoms.shape[0], 3, 3), dtype, num_atoms.device)
        return (
            self.limit_mean(num_atoms, dtype) + self.limit_variance(num_atoms, dtype).sqrt() * noise
        )

    def predictor_step(
        self,
        lattice: torch.Tensor,
        score: torch.Tensor,
        t_now: torch.Tensor,
        t_next: torch.Tensor,
        num_atoms: torch.Tensor,
        add_noise: bool = True,
    ) -> torch.Tensor:
        """Ancestral step from ``t_now`` to ``t_next < t_now`` (the exact Gaussian posterior step
        with ``L_0`` estimated from the score).

        Args:
            lattice: ``(B, 3, 3)``; score: ``(B, 3, 3)`` at ``t_now``; t_now, t_next: ``(B,)``.
            add_noise: False for the final, noise-free step.

        Returns:
            ``(B, 3, 3)`` symmetric lattices.
        """
        mu = self.limit_mean(num_atoms, lattice.dtype)
        var = self.limit_variance(num_atoms, lattice.dtype)
        a_now = self.mean_coefficient(t_now).reshape(-1, 1, 1)
        a_next = self.mean_coefficient(t_next).reshape(-1, 1, 1)
        a_step = a_now / a_next
        beta_step = 1 - a_step**2
        mean = mu + (lattice - mu + beta_step * var * score) / a_step
        if not add_noise:
            return mean
        posterior_var = var * beta_step * (1 - a_next**2) / (1 - a_now**2)
        return mean + posterior_var.sqrt() * symmetric_noise(
            lattice.shape, lattice.dtype, lattice.device
        )

    def corrector_step(
        self,
        lattice: torch.Tensor,
        score: torch.Tensor,
        snr: float,
        t_now: torch.Tensor,
        t_next: torch.Tensor,
        num_atoms: torch.Tensor,
    ) -> torch.Tensor:
        """One Langevin step with symmetric noise at ``t_now``; the step of
        :func:`~matterloop.generator.diffusion.langevin.langevin_step_size` times
        ``α = (a(t_now)/a(t_next))²``, as for VP processes in Song et al. (2021).

        Args:
            lattice: ``(B, 3, 3)``; score: ``(B, 3, 3)`` at ``t_now``; t_now, t_next,
                num_atoms: ``(B,)``.
        """
        noise = symmetric_noise(lattice.shape, lattice.dtype, lattice.device)
        index = torch.arange(lattice.shape[0], device=lattice.device)
        alpha = (self.mean_coefficient(t_now) / self.mean_coefficient(t_next)) ** 2
        std = self.std(t_now, num_atoms).reshape(-1)
        step = (alpha * langevin_step_size(noise, score, snr, index, std)).reshape(-1, 1, 1)
        return lattice + step * score + torch.sqrt(2 * step) * noise
