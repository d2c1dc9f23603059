"""Typed configuration of generator training, read from YAML with
:func:`matterloop.core.config.load_yaml_config`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from matterloop.core.config import StrictModel
from matterloop.core.tracking import TrackingSettings


class DataConfig(StrictModel):
    """Which crystals to train on.

    ``validation_fraction`` of the training splits is held out for the validation loss (the test
    split stays untouched for measuring samples).
    """

    dataset: str = "mp_20"
    splits: list[str] = Field(default_factory=lambda: ["train", "val"])
    data_dir: Path | None = None
    validation_fraction: float = Field(0.02, ge=0.0, lt=1.0)
    max_structures: int | None = Field(None, gt=0, description="use only the first N (smoke runs)")


class OptimConfig(StrictModel):
    """AdamW with a linear warm-up to a constant learning rate (resumable at any step)."""

    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(200, ge=0)
    grad_clip: float = Field(1.0, gt=0, description="max global gradient norm")
    batch_size: int = Field(64, gt=0)
    max_steps: int = Field(10_000, gt=0)
    ema_decay: float = Field(0.999, ge=0, lt=1)


class TrainConfig(StrictModel):
    """A generator training run.

    Attributes:
        model: :class:`matterloop.generator.model.DiffusionModelConfig` fields as a mapping
        (``network``,
            ``coordinates``, ``lattice``, ``atom_types``, loss weights); the lattice prior's
            density is set from the training data.
        output_dir: checkpoints and the exported model go here; an existing checkpoint resumes.
    """

    model: dict[str, Any] = Field(default_factory=dict)
    data: DataConfig = Field(default_factory=DataConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    tracking: TrackingSettings = Field(
        default_factory=lambda: TrackingSettings(experiment="generator")
    )
    output_dir: Path = Path("runs/generator")
    init_from: Path | None = Field(
        None,
        description="model file whose weights a fresh run starts from (fine-tuning, e.g. the "
        "shipped base); its network must have the settings of `model`",
    )
    device: str = Field("auto", description="'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'")
    seed: int = 0
    log_every: int = Field(50, gt=0)
    validate_every: int = Field(500, gt=0)
    checkpoint_every: int = Field(500, gt=0)
