"""Corruption processes of the crystal diffusion model: one per component (A, X, L)."""

from matterloop.generator.diffusion.atom_types import (
    MASK_TOKEN,
    MAX_Z,
    VOCAB_SIZE,
    AtomTypeDiffusion,
    atomic_numbers_to_tokens,
    tokens_to_atomic_numbers,
)
from matterloop.generator.diffusion.coordinates import (
    CoordinateDiffusion,
    wrap,
    wrapped_normal_log_prob,
    wrapped_normal_score,
)
from matterloop.generator.diffusion.lattice import (
    LatticeDiffusion,
    symmetric_noise,
    symmetrize_lattice,
)

__all__ = [
    "MASK_TOKEN",
    "MAX_Z",
    "VOCAB_SIZE",
    "AtomTypeDiffusion",
    "CoordinateDiffusion",
    "LatticeDiffusion",
    "atomic_numbers_to_tokens",
    "symmetric_noise",
    "symmetrize_lattice",
    "tokens_to_atomic_numbers",
    "wrap",
    "wrapped_normal_log_prob",
    "wrapped_normal_score",
]
