"""Wrapped variance-exploding diffusion of fractional coordinates on the 3-torus.

Coordinates are diffused in *fractional* space, as in MatterGen: the torus [0, 1)³ is the same for
every cell, fractional coordinates do not change when the cell rotates, and the forward process does
not depend on the (simultaneously diffused) lattice. The price is that a fractional step means a
different Cartesian distance in a long and a short lattice direction; the score network sees the
lattice and can account for that.

The noise of a crystal with ``N`` atoms has standard deviation ``σ(t) N^(-1/3)`` with
``σ(t) = σ_min (σ_max/σ_min)^t``, so that the Cartesian displacement is comparable across cell
sizes. Times are continuous, ``t ∈ (0, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from matterloop.generator.diffusion.langevin import langevin_step_size
from matterloop.generator.diffusion.scatter import crystal_mean

# Below this σ the density is summed over periodic images, above it over Fourier modes. With
# _NUM_TERMS terms each side, the first omitted term is below exp(-40) (images, σ ≤ 0.5) or
# exp(-79) (Fourier, σ ≥ 0.5) relative to the leading one: exact in float64.
_IMAGE_SUM_MAX_SIGMA = 0.5
_NUM_TERMS = 4


def wrapped_normal_log_prob(displacement: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Log density on the unit circle of a normal ``N(0, σ²)`` wrapped onto [0, 1).

    Args:
        displacement: any shape, fractional displacement (any real; only its value mod 1 matters).
        sigma: broadcastable to ``displacement``, standard deviation in fractional units, > 0.

    Returns:
        Elementwise log density (the density integrates to 1 over one period).
    """
    d = displacement - torch.round(displacement)
    small, large = _split_sigma(sigma)
    images = torch.arange(-_NUM_TERMS, _NUM_TERMS + 1, dtype=d.dtype, device=d.device)
    exponents = -((d.unsqueeze(-1) + images) ** 2) / (2 * small.unsqueeze(-1) ** 2)
    image_sum = torch.logsumexp(exponents, dim=-1) - torch.log(math.sqrt(2 * math.pi) * small)
    modes = torch.arange(1, _NUM_TERMS + 1, dtype=d.dtype, device=d.device)
    decay = torch.exp(-2 * math.pi**2 * modes**2 * large.unsqueeze(-1) ** 2)
    fourier = torch.log1p(2 * (decay * torch.cos(2 * math.pi * modes * d.unsqueeze(-1))).sum(-1))
    return torch.where(sigma < _IMAGE_SUM_MAX_SIGMA, image_sum, fourier)


def wrapped_normal_score(displacement: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Derivative of :func:`wrapped_normal_log_prob` with respect to ``displacement``.

    Shapes as in :func:`wrapped_normal_log_prob`; the result is in 1/(fractional unit).
    """
    d = displacement - torch.round(displacement)
    small, large = _split_sigma(sigma)
    images = torch.arange(-_NUM_TERMS, _NUM_TERMS + 1, dtype=d.dtype, device=d.device)
    shifted = d.unsqueeze(-1) + images
    weights = torch.softmax(-(shifted**2) / (2 * small.unsqueeze(-1) ** 2), dim=-1)
    image_sum = -(weights * shifted).sum(-1) / small**2
    modes = torch.arange(1, _NUM_TERMS + 1, dtype=d.dtype, device=d.device)
    decay = torch.exp(-2 * math.pi**2 * modes**2 * large.unsqueeze(-1) ** 2)
    phase = 2 * math.pi * modes * d.unsqueeze(-1)
    density = 1 + 2 * (decay * torch.cos(phase)).sum(-1)
    fourier = -4 * math.pi * (modes * decay * torch.sin(phase)).sum(-1) / density
    return torch.where(sigma < _IMAGE_SUM_MAX_SIGMA, image_sum, fourier)


def _split_sigma(sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """σ clamped into each branch's range, so the branch that is not used stays finite."""
    return sigma.clamp(max=_IMAGE_SUM_MAX_SIGMA), sigma.clamp(min=_IMAGE_SUM_MAX_SIGMA)


def wrap(frac_coords: torch.Tensor) -> torch.Tensor:
    """Fractional coordinates mapped into [0, 1) (also where rounding would give exactly 1)."""
    wrapped = torch.remainder(frac_coords, 1.0)
    return torch.where(wrapped >= 1.0, torch.zeros_like(wrapped), wrapped)


@dataclass(frozen=True)
class CoordinateDiffusion:
    """Wrapped VE-SDE on fractional coordinates.

    Attributes:
        sigma_min: σ(0), fractional units before the ``N^(-1/3)`` scaling.
        sigma_max: σ(1); at 5 the wrapped normal is uniform for any N ≤ 100 to float64 precision.
    """

    sigma_min: float = 0.01
    sigma_max: float = 5.0

    def sigma(self, t: torch.Tensor, num_atoms: torch.Tensor) -> torch.Tensor:
        """Noise standard deviation ``σ(t) N^(-1/3)``.

        Args:
            t: ``(m,)`` times in [0, 1].
            num_atoms: ``(m,)`` atom count of the crystal each entry belongs to.

        Returns:
            ``(m, 1)`` fractional standard deviations, ready to broadcast over x, y, z.
        """
        sigma = self.sigma_min * (self.sigma_max / self.sigma_min) ** t
        return (sigma * num_atoms.to(t.dtype) ** (-1.0 / 3.0)).unsqueeze(-1)

    def sample_marginal(
        self, frac_coords: torch.Tensor, sigma: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``x_t ~ q(x_t | x_0)`` and the exact score of that transition kernel.

        Args:
            frac_coords: ``(n, 3)`` clean coordinates ``x_0``.
            sigma: ``(n, 1)`` per-atom standard deviation from :meth:`sigma`.

        Returns:
            ``x_t`` ``(n, 3)`` in [0, 1) and ``∇ log q(x_t | x_0)`` ``(n, 3)``, 1/(fractional unit).
        """
        displacement = sigma * torch.randn_like(frac_coords)
        return wrap(frac_coords + displacement), wrapped_normal_score(displacement, sigma)

    def loss(
        self,
        score: torch.Tensor,
        target: torch.Tensor,
        sigma: torch.Tensor,
        batch: torch.Tensor,
        num_atoms: torch.Tensor,
    ) -> torch.Tensor:
        """Denoising score matching with weight σ², averaged over atoms and axes.

        Args:
            score: ``(n, 3)`` predicted score; target: ``(n, 3)`` from :meth:`sample_marginal`.
            sigma: ``(n, 1)``; batch: ``(n,)`` crystal index; num_atoms: ``(B,)``.

        Returns:
            ``(B,)`` loss per crystal (σ·score is O(1), so is the loss).
        """
        per_atom = ((sigma * (score - target)) ** 2).mean(-1)
        return crystal_mean(per_atom, batch, num_atoms)

    def prior_sample(
        self, num_atoms_total: int, dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        """``(n, 3)`` coordinates uniform on the torus (the t = 1 marginal)."""
        return torch.rand(num_atoms_total, 3, dtype=dtype, device=device)

    def predictor_step(
        self,
        frac_coords: torch.Tensor,
        score: torch.Tensor,
        sigma_now: torch.Tensor,
        sigma_next: torch.Tensor,
        add_noise: bool = True,
        noise_scale: torch.Tensor | float = 1.0,
    ) -> torch.Tensor:
        """Ancestral step of the reverse VE process from σ_now down to σ_next.

        Args:
            frac_coords: ``(n, 3)``; score: ``(n, 3)`` at σ_now.
            sigma_now, sigma_next: ``(n, 1)`` per-atom standard deviations, σ_next < σ_now.
            add_noise: False for the final, noise-free step.
            noise_scale: multiplies the noise, ``(n, 1)`` per atom or one number (a projection
                that averages it afterwards, see :mod:`matterloop.generator.symmetry`, scales it
                up).

        Returns:
            ``(n, 3)`` coordinates in [0, 1).
        """
        gap = sigma_now**2 - sigma_next**2
        x = frac_coords + gap * score
        if add_noise:
            noise = noise_scale * torch.randn_like(x)
            x = x + torch.sqrt(gap * sigma_next**2 / sigma_now**2) * noise
        return wrap(x)

    def corrector_step(
        self,
        frac_coords: torch.Tensor,
        score: torch.Tensor,
        snr: float,
        batch: torch.Tensor,
        sigma: torch.Tensor,
        noise_scale: torch.Tensor | float = 1.0,
    ) -> torch.Tensor:
        """One Langevin step on the torus, the step size set by ``snr`` (see
        :func:`~matterloop.generator.diffusion.langevin.langevin_step_size`).

        Args:
            frac_coords: ``(n, 3)``; score: ``(n, 3)``; batch: ``(n,)`` crystal of each atom.
            sigma: ``(B,)`` each crystal's noise level ``σ(t) N^(-1/3)`` (see :meth:`sigma`).
            noise_scale: as in :meth:`predictor_step`; the step size ignores it.

        Returns:
            ``(n, 3)`` coordinates in [0, 1).
        """
        noise = torch.randn_like(frac_coords)
        step = langevin_step_size(noise, score, snr, batch, sigma)[batch].unsqueeze(-1)
        return wrap(frac_coords + step * score + torch.sqrt(2 * step) * noise_scale * noise)
