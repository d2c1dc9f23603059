"""Trained generators on disk: the model file that sampling and fine-tuning load.

A model file holds the EMA weights, the model configuration and what sampling needs from the
training data (the atom-count distribution and the mean atomic density), plus a summary of the
training run for the model card.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from pydantic import TypeAdapter, ValidationError

from matterloop.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from matterloop.core.errors import ConfigError
from matterloop.generator.model import DiffusionModel, DiffusionModelConfig

MODEL_KIND = "generator-model"


def model_config_from_dict(values: dict) -> DiffusionModelConfig:
    """A :class:`DiffusionModelConfig` from nested mappings; unknown keys are errors."""
    reference = asdict(DiffusionModelConfig())

    def check(given: dict, allowed: dict, prefix: str) -> None:
        for key, value in given.items():
            if key not in allowed:
                raise ConfigError(f"model.{prefix}{key}: unknown setting")
            if isinstance(allowed[key], dict):
                if not isinstance(value, dict):
                    raise ConfigError(f"model.{prefix}{key}: expected a mapping")
                check(value, allowed[key], f"{prefix}{key}.")

    check(values, reference, "")
    try:
        return TypeAdapter(DiffusionModelConfig).validate_python(values)
    except ValidationError as exc:
        raise ConfigError(f"model: {exc}") from exc


class AtomCountSampler:
    """Draws the atom counts of new cells from the training data's distribution,
    ``num_atoms_probabilities``: ``(N_max + 1,)``, the probability of each atom count."""

    num_atoms_probabilities: np.ndarray

    def draw_num_atoms(
        self,
        count: int,
        generator: torch.Generator | None = None,
        max_atoms: int | None = None,
    ) -> torch.Tensor:
        """``(count,)`` atom counts drawn from :attr:`num_atoms_probabilities` (at most
        ``max_atoms``, renormalized, when given).

        Raises:
            ValueError: no training cell has ``max_atoms`` atoms or fewer.
        """
        probabilities = torch.as_tensor(self.num_atoms_probabilities, dtype=torch.float64)
        if max_atoms is not None:
            probabilities = probabilities.clone()
            probabilities[max_atoms + 1 :] = 0
            if probabilities.sum() <= 0:
                raise ValueError(f"no training cell has {max_atoms} atoms or fewer")
        return torch.multinomial(probabilities, count, replacement=True, generator=generator)


@dataclass
class TrainedGenerator(AtomCountSampler):
    """A generator ready to sample.

    Attributes:
        model: the diffusion model (EMA weights), in eval mode.
        num_atoms_probabilities: ``(N_max + 1,)`` probability of each atom count in the data.
        info: provenance (data, steps, wall time, hardware, metrics).
    """

    model: DiffusionModel
    num_atoms_probabilities: np.ndarray
    info: dict = field(default_factory=dict)

    def to_payload(self) -> dict:
        """The model file's contents (tensors and primitives)."""
        return {
            "kind": MODEL_KIND,
            "model_config": asdict(self.model.config),
            "state_dict": self.model.state_dict(),
            "num_atoms_probabilities": torch.as_tensor(self.num_atoms_probabilities),
            "info": self.info,
        }

    def save(self, path: Path) -> None:
        save_checkpoint(self.to_payload(), path)

    @classmethod
    def from_payload(cls, payload: dict, source: Path) -> TrainedGenerator:
        """The generator of :meth:`to_payload`'s contents, read from ``source``."""
        try:
            model = DiffusionModel(model_config_from_dict(payload["model_config"]))
            model.load_state_dict(payload["state_dict"])
            num_atoms_probabilities = payload["num_atoms_probabilities"].numpy()
        except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(
                f"{source}: model does not match its configuration ({exc!r})"
            ) from exc
        model.eval()
        return cls(model, num_atoms_probabilities, payload.get("info", {}))

    @classmethod
    def load(cls, path: Path) -> TrainedGenerator:
        return cls.from_payload(load_checkpoint(path, MODEL_KIND), path)
