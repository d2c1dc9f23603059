"""Per-crystal reductions over atoms, without torch_scatter."""

from __future__ import annotations

import torch


def crystal_sum(values: torch.Tensor, batch: torch.Tensor, num_crystals: int) -> torch.Tensor:
    """Sum rows of ``values`` ``(n, ...)`` by crystal index ``batch`` ``(n,)``: ``(B, ...)``."""
    out = values.new_zeros((num_crystals, *values.shape[1:]))
    return out.index_add_(0, batch, values)


def crystal_mean(
    values: torch.Tensor, batch: torch.Tensor, num_atoms: torch.Tensor
) -> torch.Tensor:
    """Mean of the rows of ``values`` ``(n, ...)`` over each crystal's atoms: ``(B, ...)``."""
    total = crystal_sum(values, batch, num_atoms.shape[0])
    count = num_atoms.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    return total / count
