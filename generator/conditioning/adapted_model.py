"""A base diffusion model with property adapters, conditional training and guided scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import torch
from torch import nn

from matterloop.data.properties import ConditionError
from matterloop.data.tensors import CrystalBatch
from matterloop.generator.conditioning.adapters import AdapterConfig, PropertyAdapter
from matterloop.generator.conditioning.properties import PropertySpec, PropertyValues
from matterloop.generator.model import (
    CrystalState,
    DiffusionLoss,
    DiffusionModel,
    ScoreOutput,
    classifier_free_guidance,
)
from matterloop.generator.network import BlockHook
from matterloop.generator.sampling import ScoreFn

Conditions = Mapping[str, PropertyValues]
"""Property name → its condition for every crystal of a batch; a missing name = no condition."""


def drop_conditions(
    conditions: Conditions, probability: float, generator: torch.Generator | None = None
) -> dict[str, PropertyValues]:
    """Classifier-free guidance training: each crystal loses all its conditions together with
    ``probability``."""
    if not conditions:
        return {}
    first = next(iter(conditions.values()))
    draws = torch.rand(first.present.shape[0], generator=generator)
    dropped = (draws < probability).to(first.present.device)
    return {name: condition.without(dropped) for name, condition in conditions.items()}


class AdaptedModel(nn.Module):
    """``base`` with one :class:`PropertyAdapter` per property of ``specs``.

    The base weights are frozen unless :meth:`unfreeze_base` is called (full fine-tuning).
    """

    def __init__(
        self,
        base: DiffusionModel,
        specs: Sequence[PropertySpec],
        config: AdapterConfig | None = None,
    ) -> None:
        super().__init__()
        if not specs:
            raise ConditionError("an adapted model needs at least one property")
        self.base = base
        self.adapter_config = config or AdapterConfig()
        self.specs = {spec.name: spec for spec in specs}
        network = base.config.network
        self.adapters = nn.ModuleDict(
            {
                spec.name: PropertyAdapter(
                    spec, network.hidden_dim, network.num_blocks, self.adapter_config
                )
                for spec in specs
            }
        )
        self.base.requires_grad_(False)

    def unfreeze_base(self) -> None:
        self.base.requires_grad_(True)

    def encode(self, raw: Mapping[str, Sequence[object]], count: int) -> dict[str, PropertyValues]:
        """Conditions of ``count`` crystals from raw values per property (see
        :meth:`PropertySpec.encode`); properties not in ``raw`` are unconditioned."""
        return {
            name: spec.encode(raw.get(name, [None] * count)) for name, spec in self.specs.items()
        }

    def forward(self, state: CrystalState, t: torch.Tensor, conditions: Conditions) -> ScoreOutput:
        """Scores of a noisy batch at times ``t`` ``(B,)`` under ``conditions``."""
        hooks, type_logit_bias = self._conditioning(conditions, state.num_atoms.shape[0])
        scores = self.base(state, t, hooks)
        return replace(scores, type_logits=scores.type_logits + type_logit_bias[state.batch])

    def loss(
        self, batch: CrystalBatch, conditions: Conditions, t: torch.Tensor | None = None
    ) -> DiffusionLoss:
        """The base model's training loss with the adapters conditioned on ``conditions``."""
        hooks, type_logit_bias = self._conditioning(conditions, batch.num_crystals)
        return self.base.loss(batch, t, hooks, type_logit_bias)

    def unconditional(self, num_crystals: int) -> dict[str, PropertyValues]:
        """Conditions that condition nothing, for ``num_crystals`` crystals."""
        return self.encode({}, num_crystals)

    def guided_score_fn(self, conditions: Conditions, gamma: float) -> ScoreFn:
        """Classifier-free guidance, ``s_uncond + γ (s_cond - s_uncond)`` for coordinates, lattice
        and type logits. γ = 1 is the conditional model and γ = 0 the unconditional one, each
        evaluated once."""

        def score_fn(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
            unconditional = self.unconditional(state.num_atoms.shape[0])
            if gamma == 0:
                return self(state, t, unconditional)
            conditional = self(state, t, conditions)
            if gamma == 1:
                return conditional
            return classifier_free_guidance(self(state, t, unconditional), conditional, gamma)

        return score_fn

    def _values(self, conditions: Conditions, num_crystals: int) -> dict[str, PropertyValues]:
        """Every adapter's condition on the model's device and dtype; a property missing from
        ``conditions`` is unconditioned."""
        missing = set(conditions) - set(self.adapters)
        if missing:
            raise ConditionError(f"no adapter for {', '.join(sorted(missing))}")
        parameter = next(self.parameters())
        values = {}
        for name in self.adapters:
            condition = conditions.get(name) or self.specs[name].encode([None] * num_crystals)
            raw = condition.values.to(parameter.device)
            if raw.is_floating_point():
                raw = raw.to(parameter.dtype)
            values[name] = PropertyValues(raw, condition.present.to(raw.device))
        return values

    def _conditioning(
        self, conditions: Conditions, num_crystals: int
    ) -> tuple[list[BlockHook], torch.Tensor]:
        """Every adapter's block hook and the adapters' summed ``(B, MAX_Z)`` increments of each
        crystal's type logits; each property is embedded once."""
        values = self._values(conditions, num_crystals)
        hooks, type_logit_bias = [], 0
        for name, adapter in self.adapters.items():
            embedding = adapter.embedding(values[name])
            hooks.append(adapter.hook(embedding))
            type_logit_bias = type_logit_bias + adapter.type_logit_bias(embedding)
        return hooks, type_logit_bias
