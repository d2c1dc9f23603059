"""Adapted generators on disk: base model, adapter weights and property specs in one file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from matterloop.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from matterloop.generator.conditioning.adapted_model import AdaptedModel
from matterloop.generator.conditioning.adapters import AdapterConfig
from matterloop.generator.conditioning.properties import PropertySpec
from matterloop.generator.symmetry.templates import SymmetryTemplate
from matterloop.generator.training.model_io import MODEL_KIND, AtomCountSampler, TrainedGenerator

ADAPTED_KIND = "generator-adapted-model"


@dataclass
class AdaptedGenerator(AtomCountSampler):
    """A generator fine-tuned for properties, ready to sample.

    Attributes:
        base: the base generator (its model is ``model.base``, fine-tuned too if the whole
            network was trained) with its atom-count distribution.
        model: the adapted model, in eval mode.
        info: provenance of the fine-tuning (labels, steps, wall time).
        templates: space-group templates of the fine-tuning crystals, by space group, for
            symmetry-constrained sampling (see :mod:`matterloop.generator.symmetry`); empty without
            a space-group adapter.
    """

    base: TrainedGenerator
    model: AdaptedModel
    info: dict = field(default_factory=dict)
    templates: dict[int, list[SymmetryTemplate]] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        base: TrainedGenerator,
        specs: list[PropertySpec],
        config: AdapterConfig | None = None,
    ) -> AdaptedGenerator:
        """Fresh (zero-initialised) adapters for ``specs`` on ``base``."""
        return cls(base, AdaptedModel(base.model, specs, config).eval())

    @property
    def num_atoms_probabilities(self):
        """The base model's training distribution of atoms per cell (index: atom count)."""
        return self.base.num_atoms_probabilities

    def save(self, path: Path) -> None:
        save_checkpoint(
            {
                "kind": ADAPTED_KIND,
                "base": self.base.to_payload(),
                "adapter_config": asdict(self.model.adapter_config),
                "properties": [spec.to_dict() for spec in self.model.specs.values()],
                "adapters": self.model.adapters.state_dict(),
                "info": self.info,
                "templates": [t.to_dict() for group in self.templates.values() for t in group],
            },
            path,
        )

    @classmethod
    def from_payload(cls, payload: dict, source: Path) -> AdaptedGenerator:
        if not isinstance(payload.get("base"), dict):
            raise CheckpointError(f"{source}: an adapted model without its base model")
        base = TrainedGenerator.from_payload(payload["base"], source)
        try:
            specs = [PropertySpec.from_dict(spec) for spec in payload["properties"]]
            model = AdaptedModel(base.model, specs, AdapterConfig(**payload["adapter_config"]))
            model.adapters.load_state_dict(payload["adapters"])
            templates: dict[int, list[SymmetryTemplate]] = {}
            for data in payload.get("templates", []):
                template = SymmetryTemplate.from_dict(data)
                templates.setdefault(template.space_group, []).append(template)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{source}: adapters do not match their settings ({exc})"
            ) from exc
        return cls(base, model.eval(), payload.get("info", {}), templates)

    @classmethod
    def load(cls, path: Path) -> AdaptedGenerator:
        """The adapted generator saved at ``path``."""
        return cls.from_payload(load_checkpoint(path, ADAPTED_KIND), path)


def load_generator(path: Path) -> TrainedGenerator | AdaptedGenerator:
    """A base or an adapted generator, whichever ``path`` holds."""
    payload = read_checkpoint(path)
    if payload["kind"] == ADAPTED_KIND:
        return AdaptedGenerator.from_payload(payload, path)
    if payload["kind"] == MODEL_KIND:
        return TrainedGenerator.from_payload(payload, path)
    raise CheckpointError(
        f"{path}: a {payload['kind']!r} checkpoint, expected a model file "
        f"({MODEL_KIND!r} or {ADAPTED_KIND!r})"
    )
