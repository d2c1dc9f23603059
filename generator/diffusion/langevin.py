"""Step size of the Langevin corrector (Song et al., 2021, Algorithm 4)."""

from __future__ import annotations

import torch

from generator.diffusion.scatter import crystal_sum


def langevin_step_size(
    noise: torch.Tensor, score: torch.Tensor, snr: float, batch: torch.Tensor, num_crystals: int
) -> torch.Tensor:
    """``(B,)`` step ``2 (snr ‖z‖ / ‖s‖)²`` with norms over all entries of each crystal.

    Args:
        noise: ``(m, ...)`` the corrector's noise draw ``z``; score: ``(m, ...)`` the score ``s``.
        snr: target signal-to-noise ratio.
        batch: ``(m,)`` crystal of each row (``arange(B)`` for per-crystal tensors).
        num_crystals: ``B``.
    """
    noise_sq = (noise.reshape(noise.shape[0], -1) ** 2).sum(-1)
    score_sq = (score.reshape(score.shape[0], -1) ** 2).sum(-1)
    noise_norm = crystal_sum(noise_sq, batch, num_crystals).sqrt()
    score_norm = crystal_sum(score_sq, batch, num_crystals).sqrt()
    return 2 * (snr * noise_norm / score_norm.clamp(min=torch.finfo(score.dtype).tiny)) ** 2
