"""Periodic score network: message passing over all atom pairs of each crystal (CSPNet-like).

Inputs enter only through invariants, so the network is by construction

* permutation equivariant (atom outputs permute with the atoms, crystal outputs are unchanged):
  messages are summed over neighbours;
* invariant to a common shift of fractional coordinates and to lattice translations of any atom:
  pairs are described by ``sin, cos(2π k (x_j - x_i))``;
* invariant to rotating the cell, ``L → L Rᵀ``: the lattice enters as the Gram matrix ``L Lᵀ``, and
  the outputs are fractional (coordinates) or expressed in the frame of the symmetric lattice
  ``P = (L Lᵀ)^(1/2)`` (lattice), which is itself rotation invariant.

Every block ends with ``h ← h + hook(h, block, batch)`` for each :class:`BlockHook` passed in: the
place where property adapters act.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from matterloop.generator.diffusion.atom_types import MAX_Z, VOCAB_SIZE
from matterloop.generator.diffusion.scatter import crystal_mean
from matterloop.generator.network.conditioning import BlockHook
from matterloop.generator.network.config import ScoreNetworkConfig
from matterloop.generator.network.features import (
    lattice_invariants,
    periodic_features,
    sinusoidal_embedding,
    symmetric_from_upper,
)
from matterloop.generator.network.graph import crystal_pairs


@dataclass
class NetworkOutput:
    """Raw network predictions (the diffusion model turns them into scores).

    Attributes:
        coordinates: ``(n, 3)`` σ-scaled fractional score, ``σ ∇_x log p``.
        lattice: ``(B, 3, 3)`` symmetric, the predicted unit noise of the lattice.
        type_logits: ``(n, MAX_Z)`` logits of each atom's clean element (token ``Z - 1``).
    """

    coordinates: torch.Tensor
    lattice: torch.Tensor
    type_logits: torch.Tensor


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, out_dim))


class InteractionBlock(nn.Module):
    """Pre-norm residual block: pair messages from both atoms' features and the pair's invariant
    features, averaged over each atom's crystal, then an atom-wise update.

    The message MLP's first layer acts on ``[h_i, h_j, f_ij]``; it is applied as
    ``W_i h_i + W_j h_j + W_f f_ij + b`` with the atom terms computed once per atom and gathered,
    not once per pair: the same function, at about half the cost, since a batch has
    ``E = Σ N_b²`` pairs against ``n = Σ N_b`` atoms.
    """

    def __init__(self, hidden_dim: int, pair_feature_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden_dim)
        self.message = nn.Sequential(
            _mlp(2 * hidden_dim + pair_feature_dim, hidden_dim, hidden_dim), nn.SiLU()
        )
        self.update = _mlp(2 * hidden_dim, hidden_dim, hidden_dim)

    def pair_messages(
        self, h: torch.Tensor, pair_features: torch.Tensor, src: torch.Tensor, dst: torch.Tensor
    ) -> torch.Tensor:
        """``(E, H)`` messages of the pairs ``(src, dst)`` from normalized atom features ``h``."""
        mlp, activation = self.message
        first, *rest = mlp
        width = h.shape[-1]
        w_src, w_dst, w_pair = first.weight.split([width, width, pair_features.shape[-1]], dim=1)
        pre = nn.functional.linear(pair_features, w_pair, first.bias)
        pre = pre + (h @ w_src.T)[src]
        pre += (h @ w_dst.T)[dst]
        for layer in rest:
            pre = layer(pre)
        return activation(pre)

    def forward(
        self,
        hidden: torch.Tensor,
        pair_features: torch.Tensor,
        src: torch.Tensor,
        dst: torch.Tensor,
        num_neighbours: torch.Tensor,
    ) -> torch.Tensor:
        """Args: hidden ``(n, H)``; pair_features ``(E, F)``; src, dst ``(E,)``; num_neighbours
        ``(n, 1)`` atoms in each atom's crystal. Returns the updated ``(n, H)``."""
        h = self.norm(hidden)
        messages = self.pair_messages(h, pair_features, src, dst)
        pooled = torch.zeros_like(h).index_add_(0, src, messages) / num_neighbours
        return hidden + self.update(torch.cat([h, pooled], dim=-1))


class PeriodicScoreNetwork(nn.Module):
    """Joint score network for atom types, fractional coordinates and the lattice."""

    def __init__(self, config: ScoreNetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or ScoreNetworkConfig()
        width = self.config.hidden_dim
        pair_feature_dim = 6 + 6 * self.config.num_frequencies
        self.type_embedding = nn.Embedding(VOCAB_SIZE, width)
        self.time_embedding = _mlp(self.config.time_embedding_dim, width, width)
        self.blocks = nn.ModuleList(
            InteractionBlock(width, pair_feature_dim) for _ in range(self.config.num_blocks)
        )
        self.final_norm = nn.LayerNorm(width)
        self.coordinate_head = _mlp(width, width, 3)
        self.type_head = _mlp(width, width, MAX_Z)
        self.lattice_head = _mlp(2 * width + 6, width, 6)

    def forward(
        self,
        tokens: torch.Tensor,
        frac_coords: torch.Tensor,
        lattice: torch.Tensor,
        t: torch.Tensor,
        num_atoms: torch.Tensor,
        batch: torch.Tensor,
        hooks: Sequence[BlockHook] = (),
    ) -> NetworkOutput:
        """Predict the denoising targets of a batch of noisy crystals.

        Args:
            tokens: ``(n,)`` long, element tokens ``Z - 1`` or ``MASK_TOKEN``.
            frac_coords: ``(n, 3)`` fractional coordinates.
            lattice: ``(B, 3, 3)`` lattice vectors as rows, Å.
            t: ``(B,)`` diffusion time in [0, 1].
            num_atoms: ``(B,)`` long; batch: ``(n,)`` long crystal index of each atom.
            hooks: called after every block, see :class:`BlockHook`.
        """
        src, dst = crystal_pairs(num_atoms)
        invariants = lattice_invariants(lattice, num_atoms, self.config.density)
        pair_features = torch.cat(
            [
                invariants[batch[src]],
                periodic_features(frac_coords[dst] - frac_coords[src], self.config.num_frequencies),
            ],
            dim=-1,
        )
        time = self.time_embedding(sinusoidal_embedding(t, self.config.time_embedding_dim))
        hidden = self.type_embedding(tokens) + time[batch]
        num_neighbours = num_atoms[batch].unsqueeze(-1).to(hidden.dtype)
        for index, block in enumerate(self.blocks):
            hidden = block(hidden, pair_features, src, dst, num_neighbours)
            for hook in hooks:
                hidden = hidden + hook(hidden, index, batch)
        hidden = self.final_norm(hidden)
        crystal = torch.cat([crystal_mean(hidden, batch, num_atoms), time, invariants], dim=-1)
        return NetworkOutput(
            coordinates=self.coordinate_head(hidden),
            lattice=symmetric_from_upper(self.lattice_head(crystal)),
            type_logits=self.type_head(hidden),
        )
