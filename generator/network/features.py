"""Invariant input features: time encoding, periodic pair features and lattice invariants."""

from __future__ import annotations

import math

import torch


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """``(m, dim)`` sin/cos encoding of times ``t`` ``(m,)`` in [0, 1] at geometric frequencies."""
    half = dim // 2
    frequencies = torch.exp(
        -math.log(10_000.0) * torch.arange(half, dtype=t.dtype, device=t.device) / half
    )
    angles = 1000.0 * t.unsqueeze(-1) * frequencies
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


def periodic_features(displacement: torch.Tensor, num_frequencies: int) -> torch.Tensor:
    """``(m, 6K)`` features ``sin, cos(2π k Δx)``, k = 1..K, of fractional differences ``(m, 3)``.

    Periodic in each axis with period 1, so invariant to lattice translations of either atom.
    """
    k = torch.arange(1, num_frequencies + 1, dtype=displacement.dtype, device=displacement.device)
    angles = 2 * math.pi * displacement.unsqueeze(-1) * k
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)


def _upper_indices(device: torch.device) -> torch.Tensor:
    """``(2, 6)`` row and column indices of the upper triangle of a 3×3 matrix, row-major."""
    return torch.triu_indices(3, 3, device=device)


def lattice_invariants(
    lattice: torch.Tensor, num_atoms: torch.Tensor, density: float
) -> torch.Tensor:
    """``(B, 6)`` upper-triangle entries of the Gram matrix ``L Lᵀ / ℓ²``, ``ℓ = (N/ρ)^(1/3)``.

    ``L Lᵀ`` (lattice vectors' dot products) is unchanged by rotating the cell, ``L → L Rᵀ``; the
    division by ``ℓ²`` makes the entries O(1) for any atom count.
    """
    gram = lattice @ lattice.transpose(-1, -2)
    scale = (num_atoms.to(lattice.dtype) / density) ** (2.0 / 3.0)
    rows, cols = _upper_indices(lattice.device)
    return gram[:, rows, cols] / scale.unsqueeze(-1)


def symmetric_from_upper(upper: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 3)`` symmetric matrices from their upper triangles ``(B, 6)`` (row-major)."""
    rows, cols = _upper_indices(upper.device)
    out = upper.new_zeros(upper.shape[0], 3, 3)
    out[:, rows, cols] = upper
    out[:, cols, rows] = upper
    return out
