"""The generator's training loop: AdamW, warm-up, gradient clipping, EMA, validation, checkpoints.

Training resumes exactly: a checkpoint holds the model, EMA and optimizer states, the step and the
random-number state, and the order of training crystals is a function of (seed, epoch), so a run
stopped at step k and resumed reaches the same weights as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from matterloop.core.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from matterloop.core.tracking import flatten, tracked_run
from matterloop.data import CrystalDataset, collate, compute_stats, load_dataset_split
from matterloop.generator.devices import hardware_description, resolve_device
from matterloop.generator.model import DiffusionLoss, DiffusionModel
from matterloop.generator.training.config import DataConfig, TrainConfig
from matterloop.generator.training.model_io import TrainedGenerator, model_config_from_dict

CHECKPOINT_KIND = "generator-training"
CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
LOSS_PARTS = ("total", "coordinates", "lattice", "atom_types")
VALIDATION_SEED = 1234


@dataclass
class TrainingData:
    """Training and held-out validation crystals with the training set's statistics."""

    train: CrystalDataset
    validation: CrystalDataset
    density: float
    num_atoms_probabilities: np.ndarray


def prepare_data(config: DataConfig, seed: int) -> TrainingData:
    """Load the splits, hold out a validation fraction (seeded), and compute the priors' inputs."""
    parts = [load_dataset_split(config.dataset, split, config.data_dir) for split in config.splits]
    data = CrystalDataset.concatenate(parts)
    if config.max_structures is not None:
        data = data.select(range(min(config.max_structures, len(data))))
    order = np.random.default_rng(seed).permutation(len(data))
    held_out = round(config.validation_fraction * len(data))
    validation = data.select(np.sort(order[:held_out]))
    train = data.select(np.sort(order[held_out:]))
    stats = compute_stats(train)
    return TrainingData(
        train, validation, stats.mean_atomic_density, stats.num_atoms_probabilities()
    )


def descend(
    optimizer: torch.optim.Optimizer, loss: torch.Tensor, model: torch.nn.Module, grad_clip: float
) -> float:
    """One gradient step on the scalar ``loss``: clear the gradients, backpropagate, clip the
    gradient norm of ``model``'s parameters to ``grad_clip`` and step; returns the norm before
    clipping."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(grad_norm)


def batch_indices(step: int, num_items: int, batch_size: int, seed: int) -> torch.Tensor:
    """Indices of the training crystals of ``step``: epochs are seeded permutations."""
    batch_size = min(batch_size, num_items)
    steps_per_epoch = num_items // batch_size
    epoch, position = divmod(step, steps_per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed + 7919 * epoch))
    return order[position * batch_size : (position + 1) * batch_size]


def learning_rate(step: int, lr: float, warmup_steps: int) -> float:
    return lr * min(1.0, (step + 1) / warmup_steps) if warmup_steps else lr


def loss_values(loss: DiffusionLoss) -> dict[str, float]:
    return {part: float(getattr(loss, part).detach()) for part in LOSS_PARTS}


class Trainer:
    """Trains a :class:`DiffusionModel` as a :class:`TrainConfig` says; ``run()`` does it all."""

    def __init__(self, config: TrainConfig, progress: bool = True) -> None:
        self.config = config
        self.progress = progress
        self.output_dir = Path(config.output_dir)
        torch.manual_seed(config.seed)
        self.data = prepare_data(config.data, config.seed)
        model_config = model_config_from_dict(config.model).with_density(self.data.density)
        self.device = resolve_device(config.device)
        self.model = DiffusionModel(model_config).to(self.device)
        self.ema = AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(config.optim.ema_decay)
        )
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=config.optim.lr, weight_decay=config.optim.weight_decay
        )
        self.step = 0
        self.train_seconds = 0.0
        self.run_id: str | None = None
        self.last_validation: dict[str, float] = {}

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / CHECKPOINT_NAME

    @property
    def model_path(self) -> Path:
        return self.output_dir / MODEL_NAME

    def save(self) -> None:
        """Write the resumable checkpoint and the exported (EMA) model."""
        save_checkpoint(
            {
                "kind": CHECKPOINT_KIND,
                "config": self.config.model_dump(mode="json"),
                "model": self.model.state_dict(),
                "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "train_seconds": self.train_seconds,
                "rng_state": torch.get_rng_state(),
                "run_id": self.run_id or "",
            },
            self.checkpoint_path,
        )
        self.export().save(self.model_path)

    def resume(self) -> bool:
        """Restore the state of an existing checkpoint in ``output_dir``; False if there is none."""
        if not self.checkpoint_path.is_file():
            return False
        state = load_checkpoint(self.checkpoint_path, CHECKPOINT_KIND)
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        torch.set_rng_state(state["rng_state"])
        self.run_id = state["run_id"] or None
        return True

    def export(self) -> TrainedGenerator:
        """The EMA model with the data priors and a summary of the run."""
        ema_model = DiffusionModel(self.model.config)
        ema_model.load_state_dict({k: v.cpu() for k, v in self.ema.module.state_dict().items()})
        ema_model.eval()
        info = {
            "data": f"{self.config.data.dataset} {'+'.join(self.config.data.splits)}",
            "train_structures": len(self.data.train),
            "validation_structures": len(self.data.validation),
            "steps": self.step,
            "batch_size": self.config.optim.batch_size,
            "train_seconds": round(self.train_seconds, 1),
            "hardware": hardware_description(self.device),
            "parameters": sum(p.numel() for p in ema_model.parameters()),
            "validation_loss": self.last_validation,
        }
        return TrainedGenerator(ema_model, self.data.num_atoms_probabilities, info)

    def train_step(self) -> dict[str, float]:
        cfg = self.config.optim
        indices = batch_indices(self.step, len(self.data.train), cfg.batch_size, self.config.seed)
        batch = collate([self.data.train[int(i)] for i in indices]).to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.step, cfg.lr, cfg.warmup_steps)
        self.model.train()
        loss = self.model.loss(batch)
        grad_norm = descend(self.optimizer, loss.total, self.model, cfg.grad_clip)
        self.ema.update_parameters(self.model)
        self.step += 1
        return {**loss_values(loss), "grad_norm": grad_norm}

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Mean loss parts of the EMA model on the held-out crystals, at seeded times and noise."""
        if len(self.data.validation) == 0:
            return {}
        model = self.ema.module
        model.eval()
        sums = dict.fromkeys(LOSS_PARTS, 0.0)
        size = self.config.optim.batch_size
        with torch.random.fork_rng():
            torch.manual_seed(VALIDATION_SEED)
            for start in range(0, len(self.data.validation), size):
                items = [
                    self.data.validation[i]
                    for i in range(start, min(start + size, len(self.data.validation)))
                ]
                values = loss_values(model.loss(collate(items).to(self.device)))
                for part in LOSS_PARTS:
                    sums[part] += values[part] * len(items)
        self.last_validation = {p: s / len(self.data.validation) for p, s in sums.items()}
        return self.last_validation

    def start_from(self, path: Path) -> None:
        """Load the weights of the model file ``path`` into the model and its EMA.

        Raises:
            CheckpointError: its network differs from this run's.
        """
        start = TrainedGenerator.load(Path(path))
        if start.model.config.network != self.model.config.network:
            raise CheckpointError(
                f"{path}: its network ({start.model.config.network}) is not this run's "
                f"({self.model.config.network}); set model.network to match"
            )
        self.model.load_state_dict(start.model.state_dict())
        self.ema.module.load_state_dict(start.model.state_dict())

    def run(self) -> TrainedGenerator:
        """Train to ``optim.max_steps`` (resuming if a checkpoint exists, else starting from
        ``init_from`` if given); returns the EMA model."""
        if not self.resume() and self.config.init_from is not None:
            self.start_from(self.config.init_from)
        tracking = self.config.tracking
        run = (
            tracked_run(
                tracking.experiment,
                run_name=self.output_dir.name,
                tracking_uri=tracking.tracking_uri,
                params=flatten(
                    {
                        **self.config.model_dump(mode="json"),
                        "model_config": asdict(self.model.config),
                    }
                ),
                run_id=self.run_id,
            )
            if tracking.enabled
            else contextlib.nullcontext(None)
        )
        with run as mlflow, progress_bar(self.progress) as bar:
            if mlflow is not None:
                self.run_id = mlflow.active_run().info.run_id
            task = bar.add_task("training", total=self.config.optim.max_steps, completed=self.step)
            while self.step < self.config.optim.max_steps:
                started = time.perf_counter()
                metrics = self.train_step()
                self.train_seconds += time.perf_counter() - started
                bar.update(task, advance=1, description=f"training loss {metrics['total']:.3f}")
                if mlflow is not None and self.step % self.config.log_every == 0:
                    mlflow.log_metrics(
                        {f"train/{k}": v for k, v in metrics.items()}, step=self.step
                    )
                if self.step % self.config.validate_every == 0:
                    validation = self.validate()
                    if mlflow is not None:
                        mlflow.log_metrics(
                            {f"val/{k}": v for k, v in validation.items()}, step=self.step
                        )
                if self.step % self.config.checkpoint_every == 0:
                    self.save()
            self.validate()
            self.save()
            if mlflow is not None:
                mlflow.log_metrics(
                    {f"val/{k}": v for k, v in self.last_validation.items()}, step=self.step
                )
                mlflow.log_artifact(str(self.model_path))
        return self.export()


def progress_bar(enabled: bool) -> Progress:
    """A bar of training steps: description (with the loss), steps done of all, time left."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=False,
    )
