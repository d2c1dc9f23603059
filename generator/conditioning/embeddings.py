"""Property embeddings: one vector per crystal, or a learned "no condition" vector."""

from __future__ import annotations

import torch
from torch import nn

from matterloop.data.properties import PropertyKind
from matterloop.generator.conditioning.properties import NUM_SPACE_GROUPS, PropertyValues
from matterloop.generator.diffusion.atom_types import MAX_Z

GAUSSIAN_CENTERS = 32
GAUSSIAN_RANGE = 4.0
"""Standardized scalars are encoded by Gaussians centred on a grid over ±4 standard deviations."""


def gaussian_encoding(values: torch.Tensor) -> torch.Tensor:
    """``(B, GAUSSIAN_CENTERS)`` Gaussian basis of standardized scalars ``(B,)``; the width is the
    grid spacing, so neighbouring values get overlapping codes."""
    centers = torch.linspace(
        -GAUSSIAN_RANGE, GAUSSIAN_RANGE, GAUSSIAN_CENTERS, dtype=values.dtype, device=values.device
    )
    width = 2 * GAUSSIAN_RANGE / (GAUSSIAN_CENTERS - 1)
    return torch.exp(-0.5 * ((values.unsqueeze(-1) - centers) / width) ** 2)


class ScalarEncoder(nn.Module):
    """Standardized scalar ``(B,)`` → Gaussian basis → ``(B, D)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(GAUSSIAN_CENTERS, dim)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.linear(gaussian_encoding(values))


class ChemicalSystemEncoder(nn.Module):
    """Multi-hot elements ``(B, MAX_Z)`` → ``(B, D)`` through one linear layer."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(MAX_Z, dim)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.linear(values)


class SpaceGroupEncoder(nn.Module):
    """Space-group numbers ``(B,)`` in 1..230 (0 where absent) → ``(B, D)`` from a table."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(NUM_SPACE_GROUPS + 1, dim)

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.table(values)


ENCODERS = {
    PropertyKind.SCALAR: ScalarEncoder,
    PropertyKind.CHEMICAL_SYSTEM: ChemicalSystemEncoder,
    PropertyKind.SPACE_GROUP: SpaceGroupEncoder,
}


class PropertyEmbedding(nn.Module):
    """The embedding of one property: its encoder where a condition is present, a learned
    "no condition" vector where not."""

    def __init__(self, kind: PropertyKind, dim: int) -> None:
        super().__init__()
        self.encoder = ENCODERS[kind](dim)
        self.no_condition = nn.Parameter(torch.zeros(dim))

    def forward(self, condition: PropertyValues) -> torch.Tensor:
        """``(B, D)`` embeddings of ``condition``."""
        encoded = self.encoder(condition.values)
        return torch.where(condition.present.unsqueeze(-1), encoded, self.no_condition)
