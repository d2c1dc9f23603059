"""Typed configuration of the score network."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreNetworkConfig:
    """Size and inputs of :class:`matterloop.generator.network.PeriodicScoreNetwork`.

    The defaults (~0.6 M parameters) train on a few CPU cores; MatterGen-scale runs on a GPU raise
    ``hidden_dim`` to 512 and ``num_blocks`` to 4-6.

    Attributes:
        hidden_dim: width of atom and pair features.
        num_blocks: message-passing blocks.
        num_frequencies: Fourier frequencies k = 1..K per axis for fractional differences.
        time_embedding_dim: size of the sinusoidal time encoding (even).
        density: ρ, atoms/Å³, sets the length scale ``(N/ρ)^(1/3)`` that lattice invariants are
            divided by (use the same value as the lattice diffusion).
    """

    hidden_dim: int = 128
    num_blocks: int = 4
    num_frequencies: int = 16
    time_embedding_dim: int = 64
    density: float = 0.0577
