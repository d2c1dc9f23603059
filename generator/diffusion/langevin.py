"""Step size of the Langevin corrector (Song et al., 2021, Algorithm 4)."""

from __future__ import annotations

import torch

from matterloop.generator.diffusion.scatter import crystal_sum


def langevin_step_size(
    noise: torch.Tensor,
    score: torch.Tensor,
    snr: float,
    batch: torch.Tensor,
    noise_scale: torch.Tensor,
) -> torch.Tensor:
    """``(B,)`` step ``2 (snr σ_b · mean ‖z‖ / mean ‖σ s‖)²`` of each crystal ``b``.

    Song et al. (2021) and MatterGen set one step for the batch, ``2 (snr · mean ‖z‖ / mean
    ‖s‖)²``, from norms over each crystal's entries averaged over the crystals. That is right when
    every crystal has the same noise level; here the noise level ``σ_b`` depends on the atom count
    (coordinates ``σ N^(-1/3)``, lattice ``(c N^(2/3) (1 - a²))^(1/2)``), so the norms are taken of
    the σ-scaled score ``σ_b s``, which is O(1) for every crystal, and each crystal's step is
    scaled back by its own ``σ_b²``. With exact scores ``‖σ s‖ ≈ ‖z‖`` and the step is
    ``2 (snr σ_b)²``. A ratio per crystal instead would give a crystal whose predicted score
    happens to be small a step large enough to throw it out of the data manifold (on the
    19,000-step model at 1000 steps that dropped about half of all crystals). Crystals whose score
    is all zero (frozen after diverging) are left out of the averages; the step is 0 when no crystal
    has a score.

    Args:
        noise: ``(m, ...)`` the corrector's noise draw ``z``; score: ``(m, ...)`` the score ``s``.
        snr: target signal-to-noise ratio.
        batch: ``(m,)`` crystal of each row (``arange(B)`` for per-crystal tensors).
        noise_scale: ``(B,)`` each crystal's noise standard deviation ``σ_b`` at this time, in the
            units of the diffused variable.
    """
    num_crystals = noise_scale.shape[0]
    noise_sq = (noise.reshape(noise.shape[0], -1) ** 2).sum(-1)
    score_sq = (score.reshape(score.shape[0], -1) ** 2).sum(-1)
    noise_norm = crystal_sum(noise_sq, batch, num_crystals).sqrt()
    scaled_score_norm = crystal_sum(score_sq, batch, num_crystals).sqrt() * noise_scale
    scored = (scaled_score_norm > 0).to(noise_scale.dtype)
    # Masked sums, not boolean indexing: no host-device synchronisation per corrector step.
    noise_total = (noise_norm * scored).sum()
    score_total = (scaled_score_norm * scored).sum()
    ratio = torch.where(score_total > 0, noise_total / score_total.clamp_min(1e-30), 0.0)
    return 2 * (snr * ratio * noise_scale) ** 2
