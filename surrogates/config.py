"""Typed configuration of surrogate training, read from YAML (``configs/surrogates/*.yaml``) with
:func:`matterloop.core.config.load_yaml_config`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from matterloop.core.config import StrictModel, load_yaml_config
from matterloop.core.tracking import TrackingSettings
from matterloop.data.quantities import QuantityName


class DataConfig(StrictModel):
    """Which labeled structures train the network and calibrate the uncertainty head.

    ``targets`` are quantities (:mod:`matterloop.data.quantities`; e.g.
    ``formation_energy_per_atom`` in eV/atom, ``magnetic_density`` in µB/Å³), found in the dataset
    under any of their names (MP-20's ``dft_mag_density``); an alias given here is stored as its
    canonical name. The heads are calibrated on ``max_calibration`` structures
    (all when None) drawn at random from ``calibration_split``; the network trains on the rest of
    ``train_splits`` (at most ``max_train``), so it never sees a calibration structure even when
    the calibration split is also a training split.

    With ``results`` (an oracle results file: the output of ``matterloop oracle run`` or a
    campaign's ``results.jsonl``), its successful results are the data instead of the dataset's
    splits: the relaxed structures, labeled by the oracle (``magnetic_density``,
    ``energy_per_atom``, ...; a dataset's name of the same quantity, such as
    ``dft_mag_density``, finds it too). ``max_calibration`` of them (default: a fifth) calibrate
    the heads, the others train the network.
    """

    dataset: str = "mp_20"
    data_dir: Path | None = None
    results: Path | None = None
    targets: tuple[QuantityName, ...] = Field(min_length=1)
    train_splits: tuple[Literal["train", "val", "test"], ...] = ("train",)
    calibration_split: Literal["train", "val", "test"] = "val"
    max_train: int | None = Field(default=None, gt=0)
    max_calibration: int | None = Field(default=None, gt=0)


class NetworkConfig(StrictModel):
    """The MatGL network that learns the structure embedding.

    ``pretrained`` is a folder in MatGL's format (``model.json``, ``model.pt``, ``state.pt``)
    used as a warm start; its number of outputs must equal the number of targets. Otherwise a
    new network is built from ``architecture``, ``units``, ``nblocks`` and ``cutoff`` (Å).
    """

    architecture: Literal["tensornet", "m3gnet"] = "tensornet"
    units: int = Field(default=64, gt=0)
    nblocks: int = Field(default=2, gt=0)
    cutoff: float = Field(default=5.0, gt=0)
    pretrained: Path | None = None


class TrainingConfig(StrictModel):
    """Optimization of the network (Adam with cosine decay, MSE on standardized targets)."""

    epochs: int = Field(default=30, ge=0)
    batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=1e-3, gt=0)
    seed: int = 0


class HeadConfig(StrictModel):
    """The Gaussian-process head on the embedding.

    ``coverage``: the central interval the variance is calibrated to cover. At every refit a
    ``calibration_fraction`` of the labels is held out of hyperparameter fitting to set the
    variance scale. Hyperparameters are fitted (at most ``fit_max_iter`` L-BFGS-B steps, from the
    previous refit's values) on at most ``fit_max_labels`` of the others; every label then
    enters the GP's data.
    """

    coverage: float = Field(default=0.9, gt=0, lt=1)
    calibration_fraction: float = Field(default=0.2, gt=0, lt=1)
    fit_max_iter: int = Field(default=100, gt=0)
    fit_max_labels: int = Field(default=500, ge=3)
    embed_batch_size: int = Field(default=64, gt=0)
    seed: int = 0


class SurrogateConfig(StrictModel):
    """Everything :func:`matterloop.surrogates.train.train` needs; the checkpoint goes to
    ``output_dir``."""

    name: str
    output_dir: Path
    data: DataConfig
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    head: HeadConfig = Field(default_factory=HeadConfig)
    tracking: TrackingSettings = Field(
        default_factory=lambda: TrackingSettings(experiment="surrogates")
    )


def load_config(path: str | Path) -> SurrogateConfig:
    """Read and validate a YAML configuration (``ConfigError`` names each bad field)."""
    return load_yaml_config(Path(path), SurrogateConfig)
