"""The crystal diffusion model: three corruption processes and one score network.

Training draws one time ``t ~ U[t_min, 1]`` per crystal, corrupts atom types (D3PM, step ``⌈tT⌉``),
fractional coordinates (wrapped VE) and the symmetric lattice (VP) to that time, and regresses the
network onto each process's target. The loss is ``0.1 L_X + 1.0 L_L + 1.0 L_A`` (MatterGen's
weights) with the parts returned separately for logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from matterloop.data.tensors import CrystalBatch
from matterloop.generator.diffusion.atom_types import (
    AtomTypeDiffusion,
    atomic_numbers_to_tokens,
    tokens_to_atomic_numbers,
)
from matterloop.generator.diffusion.coordinates import CoordinateDiffusion, wrap
from matterloop.generator.diffusion.lattice import LatticeDiffusion, symmetrize_lattice
from matterloop.generator.network import BlockHook, PeriodicScoreNetwork, ScoreNetworkConfig


@dataclass(frozen=True)
class DiffusionModelConfig:
    """Everything that defines a model (processes, network, loss weights).

    Attributes:
        network: score network size.
        coordinates, lattice, atom_types: the corruption processes.
        coordinate_weight, lattice_weight, type_weight: loss weights (MatterGen: 0.1, 1, 1).
        min_time: smallest training time; keeps the coordinate and lattice targets finite.
        visible_types_fraction: share of training crystals whose atom types are shown clean
            at every time, so that the network also learns the lattice and coordinates given
            the composition (crystal-structure prediction, :mod:`matterloop.generator.csp`); 0:
            none.
    """

    network: ScoreNetworkConfig = field(default_factory=ScoreNetworkConfig)
    coordinates: CoordinateDiffusion = field(default_factory=CoordinateDiffusion)
    lattice: LatticeDiffusion = field(default_factory=LatticeDiffusion)
    atom_types: AtomTypeDiffusion = field(default_factory=AtomTypeDiffusion)
    coordinate_weight: float = 0.1
    lattice_weight: float = 1.0
    type_weight: float = 1.0
    min_time: float = 1e-3
    visible_types_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.network.density != self.lattice.density:
            raise ValueError(
                f"network.density ({self.network.density}) and lattice.density "
                f"({self.lattice.density}) must agree; use with_density()"
            )

    def with_density(self, density: float) -> DiffusionModelConfig:
        """A copy whose lattice prior and network length scale use ``density`` (atoms/Å³)."""
        return replace(
            self,
            network=replace(self.network, density=density),
            lattice=replace(self.lattice, density=density),
        )


@dataclass
class CrystalState:
    """A batch of (possibly noisy) crystals in the model's own representation.

    Attributes:
        tokens: ``(n,)`` long, element tokens ``Z - 1`` or ``MASK_TOKEN``.
        frac_coords: ``(n, 3)`` in [0, 1).
        lattice: ``(B, 3, 3)`` rows are lattice vectors, Å.
        num_atoms: ``(B,)`` long; batch: ``(n,)`` long crystal index of each atom.
    """

    tokens: torch.Tensor
    frac_coords: torch.Tensor
    lattice: torch.Tensor
    num_atoms: torch.Tensor
    batch: torch.Tensor

    @classmethod
    def from_batch(cls, batch: CrystalBatch) -> CrystalState:
        return cls(
            tokens=atomic_numbers_to_tokens(batch.atomic_numbers),
            frac_coords=batch.frac_coords,
            lattice=batch.lattice,
            num_atoms=batch.num_atoms,
            batch=batch.batch,
        )

    def to_batch(self) -> CrystalBatch:
        """The crystals as a :class:`CrystalBatch`; every token must be an element."""
        return CrystalBatch(
            atomic_numbers=tokens_to_atomic_numbers(self.tokens),
            frac_coords=wrap(self.frac_coords),
            lattice=self.lattice,
            num_atoms=self.num_atoms,
            batch=self.batch,
        )


@dataclass
class ScoreOutput:
    """The model's estimate of the reverse process at one time.

    Attributes:
        coordinates: ``(n, 3)`` score of fractional coordinates, 1/(fractional unit).
        lattice: ``(B, 3, 3)`` symmetric score of the lattice, 1/Å.
        type_logits: ``(n, MAX_Z)`` logits of each atom's clean element.
    """

    coordinates: torch.Tensor
    lattice: torch.Tensor
    type_logits: torch.Tensor


def classifier_free_guidance(
    unconditional: ScoreOutput, conditional: ScoreOutput, gamma: float
) -> ScoreOutput:
    """``s_uncond + γ (s_cond - s_uncond)`` for both scores and the type logits."""

    def mix(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return u + gamma * (c - u)

    return ScoreOutput(
        coordinates=mix(unconditional.coordinates, conditional.coordinates),
        lattice=mix(unconditional.lattice, conditional.lattice),
        type_logits=mix(unconditional.type_logits, conditional.type_logits),
    )


@dataclass
class DiffusionLoss:
    """Scalar losses: ``total`` is the weighted sum of the three parts (unweighted here)."""

    total: torch.Tensor
    coordinates: torch.Tensor
    lattice: torch.Tensor
    atom_types: torch.Tensor


class DiffusionModel(nn.Module):
    """MatterGen-style joint diffusion over atom types, fractional coordinates and the lattice."""

    def __init__(self, config: DiffusionModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or DiffusionModelConfig()
        self.network = PeriodicScoreNetwork(self.config.network)

    def forward(
        self, state: CrystalState, t: torch.Tensor, hooks: Sequence[BlockHook] = ()
    ) -> ScoreOutput:
        """Scores of a noisy batch at times ``t`` ``(B,)``."""
        out = self.network(
            state.tokens,
            state.frac_coords,
            state.lattice,
            t,
            state.num_atoms,
            state.batch,
            hooks,
        )
        sigma = self.config.coordinates.sigma(t[state.batch], state.num_atoms[state.batch])
        lattice_std = self.config.lattice.std(t, state.num_atoms)
        return ScoreOutput(
            coordinates=out.coordinates / sigma,
            lattice=-out.lattice / lattice_std,
            type_logits=out.type_logits,
        )

    def loss(
        self,
        batch: CrystalBatch,
        t: torch.Tensor | None = None,
        hooks: Sequence[BlockHook] = (),
        type_logit_bias: torch.Tensor | None = None,
    ) -> DiffusionLoss:
        """Training loss on clean crystals, at times ``t`` ``(B,)`` or uniformly drawn ones.

        ``hooks`` act after every block; ``type_logit_bias`` ``(B, MAX_Z)`` is added to the type
        logits of each crystal's atoms (both from property adapters)."""
        cfg = self.config
        clean = CrystalState.from_batch(batch)
        if t is None:
            t = torch.rand(
                batch.num_crystals, dtype=batch.lattice.dtype, device=batch.lattice.device
            )
            t = cfg.min_time + (1 - cfg.min_time) * t
        atom_time, atom_count = t[clean.batch], clean.num_atoms[clean.batch]

        sigma = cfg.coordinates.sigma(atom_time, atom_count)
        noisy_coords, coord_target = cfg.coordinates.sample_marginal(clean.frac_coords, sigma)
        noisy_lattice, lattice_noise = cfg.lattice.sample_marginal(
            symmetrize_lattice(clean.lattice), t, clean.num_atoms
        )
        step = cfg.atom_types.discrete_step(atom_time)
        if cfg.visible_types_fraction > 0:
            visible = torch.rand(batch.num_crystals, device=t.device) < cfg.visible_types_fraction
            step = torch.where(visible[clean.batch], torch.zeros_like(step), step)
        noisy_tokens = cfg.atom_types.sample_marginal(clean.tokens, step)

        noisy = replace(clean, tokens=noisy_tokens, frac_coords=noisy_coords, lattice=noisy_lattice)
        scores = self(noisy, t, hooks)
        type_logits = scores.type_logits
        if type_logit_bias is not None:
            type_logits = type_logits + type_logit_bias[clean.batch]
        coordinates = cfg.coordinates.loss(
            scores.coordinates, coord_target, sigma, clean.batch, clean.num_atoms
        ).mean()
        lattice = cfg.lattice.loss(
            scores.lattice, lattice_noise, cfg.lattice.std(t, clean.num_atoms)
        ).mean()
        atom_types = cfg.atom_types.loss(
            type_logits, clean.tokens, noisy_tokens, step, clean.batch, clean.num_atoms
        ).mean()
        total = (
            cfg.coordinate_weight * coordinates
            + cfg.lattice_weight * lattice
            + cfg.type_weight * atom_types
        )
        return DiffusionLoss(total, coordinates, lattice, atom_types)

    def prior(self, num_atoms: torch.Tensor) -> CrystalState:
        """Draws from the t = 1 limit for crystals of ``num_atoms`` ``(B,)`` atoms each."""
        parameter = next(self.parameters())
        dtype = parameter.dtype
        num_atoms = num_atoms.long().to(parameter.device)
        total = int(num_atoms.sum())
        return CrystalState(
            tokens=self.config.atom_types.prior_sample(total, num_atoms.device),
            frac_coords=self.config.coordinates.prior_sample(total, dtype, num_atoms.device),
            lattice=self.config.lattice.prior_sample(num_atoms, dtype),
            num_atoms=num_atoms,
            batch=torch.repeat_interleave(
                torch.arange(num_atoms.shape[0], device=num_atoms.device), num_atoms
            ),
        )
