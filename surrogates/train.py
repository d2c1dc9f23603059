"""Training and evaluation entry points (``matterloop surrogate train|evaluate``).

:func:`train` fits the MatGL network on the training splits, then fits the calibrated GP heads on
the calibration split, whose structures the network never saw, so that the head's uncertainty is
that of new structures. Parameters, metrics and the checkpoint go to MLflow. :func:`evaluate`
measures a checkpoint on held-out structures.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch.loggers import MLFlowLogger
from pymatgen.core import Structure

from matterloop.core.tracking import TrackingSettings, resolve_tracking_uri, tracked_run
from matterloop.data import DataError, load_dataset_split
from matterloop.data.labels import read_labeled_structures
from matterloop.data.properties import raw_labels
from matterloop.surrogates.config import DataConfig, SurrogateConfig
from matterloop.surrogates.head import gp_inputs
from matterloop.surrogates.metrics import RegressionMetrics, regression_metrics
from matterloop.surrogates.network import build_network, train_network
from matterloop.surrogates.surrogate import MIN_LABELS, RefitReport, Surrogate


@dataclass(frozen=True)
class LabeledStructures:
    """``n`` structures with ``(n, T)`` labels (NaN where unknown); ``rows`` names each one by
    ``(split, index in the split)``."""

    structures: list[Structure]
    labels: np.ndarray
    rows: list[tuple[str, int]]

    def column(self, index: int) -> np.ndarray:
        return self.labels[:, index]


@dataclass(frozen=True)
class Evaluation:
    """Held-out metrics per target and the throughput of prediction from structures."""

    metrics: dict[str, RegressionMetrics]
    predictions_per_second: float


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how the heads were fitted."""

    checkpoint: Path
    refit: RefitReport


def load_labeled(
    data: DataConfig,
    splits: Sequence[str],
    limit: int | None,
    seed: int,
    exclude: Collection[tuple[str, int]] = (),
) -> LabeledStructures:
    """Structures and target labels of ``splits`` but the ``(split, index)`` rows of ``exclude``;
    at most ``limit``, drawn at random (seeded)."""
    datasets = {
        split: load_dataset_split(data.dataset, split, data.data_dir, progress=False)
        for split in splits
    }
    excluded = set(exclude)
    rows = [
        (split, i)
        for split, d in datasets.items()
        for i in range(len(d))
        if (split, i) not in excluded
    ]
    if limit is not None and limit < len(rows):
        chosen = np.sort(np.random.default_rng(seed).choice(len(rows), limit, replace=False))
        rows = [rows[i] for i in chosen]
    labels = {
        split: np.stack([d.property(t) for t in data.targets], axis=-1)
        for split, d in datasets.items()
    }
    return LabeledStructures(
        structures=[datasets[split].structure(i) for split, i in rows],
        labels=np.array([labels[split][i] for split, i in rows]).reshape(len(rows), -1),
        rows=rows,
    )


RESULTS_CALIBRATION_FRACTION = 0.2
"""Share of an oracle results file's structures that calibrate the heads by default."""


def load_results(data: DataConfig, seed: int) -> tuple[LabeledStructures, LabeledStructures]:
    """Training and calibration structures of the oracle results file ``data.results``
    (successful results only), disjoint, drawn at random (seeded).

    Raises:
        DataError: an unreadable file, a target the results do not label, or too few results
            for both parts (``MIN_LABELS`` to calibrate, two to train, at least).
    """
    structures, labels = read_labeled_structures(data.results)
    columns = [raw_labels(target, structures, labels) for target in data.targets]
    values = np.array(columns, dtype=float).T.reshape(len(structures), -1)
    count = len(structures)
    if count < MIN_LABELS + 2:
        raise DataError(
            f"{data.results}: {count} successful result(s); the heads need {MIN_LABELS} to "
            "calibrate and the network 2 to train, at least"
        )
    calibration = data.max_calibration or round(RESULTS_CALIBRATION_FRACTION * count)
    calibration = max(MIN_LABELS, min(calibration, count - 2))
    order = np.random.default_rng(seed).permutation(count)
    parts = (np.sort(order[calibration:]), np.sort(order[:calibration]))
    if data.max_train is not None:
        parts = (parts[0][: data.max_train], parts[1])
    training, calibrating = (
        LabeledStructures(
            [structures[i] for i in rows], values[rows], [("results", int(i)) for i in rows]
        )
        for rows in parts
    )
    return training, calibrating


def load_training_and_calibration(
    data: DataConfig, seed: int
) -> tuple[LabeledStructures, LabeledStructures]:
    """The network's training structures and the heads' calibration structures, disjoint.

    Calibration rows are drawn first from ``data.calibration_split``; when that split is also a
    training split, its calibration rows are left out of training, so that the heads are
    calibrated on structures the network never saw. With ``data.results``, both come from that
    results file (:func:`load_results`).
    """
    if data.results is not None:
        return load_results(data, seed)
    calibration = load_labeled(data, [data.calibration_split], data.max_calibration, seed)
    training = load_labeled(data, data.train_splits, data.max_train, seed, calibration.rows)
    return training, calibration


def evaluate_surrogate(surrogate: Surrogate, data: LabeledStructures) -> Evaluation:
    """Metrics of ``surrogate`` on labeled structures, timing embedding plus prediction."""
    start = time.perf_counter()
    mean, std = surrogate.predict(gp_inputs(surrogate.embed(data.structures)))
    seconds = time.perf_counter() - start
    metrics = {
        target: regression_metrics(
            mean[:, i], std[:, i], torch.as_tensor(data.column(i)), surrogate.head.coverage
        )
        for i, target in enumerate(surrogate.targets)
    }
    return Evaluation(metrics, len(data.structures) / seconds)


def flat_metrics(evaluation: Evaluation, prefix: str) -> dict[str, float]:
    """``{prefix}_{target}_{metric}: value`` for MLflow."""
    values = {f"{prefix}_predictions_per_second": evaluation.predictions_per_second}
    for target, metrics in evaluation.metrics.items():
        values.update({f"{prefix}_{target}_{k}": v for k, v in metrics.to_dict().items()})
    return values


def tracking(config: TrackingSettings, run_name: str, params: dict | None = None):
    """An MLflow run (yielding ``mlflow``) if tracking is enabled, else a context yielding None."""
    if not config.enabled:
        return nullcontext()
    return tracked_run(
        config.experiment, config.run_name or run_name, config.tracking_uri, params=params
    )


def train(config: SurrogateConfig, progress: bool = True) -> TrainResult:
    """Train the network, fit and calibrate the heads, save the checkpoint, log to MLflow."""
    seed = config.training.seed
    train_data, cal_data = load_training_and_calibration(config.data, seed)
    params = {"config": config.model_dump_json(), "num_train": len(train_data.structures)}
    with tracking(config.tracking, config.name, params) as mlflow:
        logger = None
        if mlflow is not None:
            logger = MLFlowLogger(
                tracking_uri=resolve_tracking_uri(config.tracking.tracking_uri),
                run_id=mlflow.active_run().info.run_id,
            )
        network = build_network(config.network, len(config.data.targets))
        train_network(
            network,
            train_data.structures,
            train_data.labels,
            cal_data.structures,
            cal_data.labels,
            config.training,
            logger=logger,
            progress=progress,
        )
        surrogate = Surrogate(network, config.data.targets, config.head)
        surrogate.add_embedded(
            surrogate.embed(cal_data.structures, progress), torch.as_tensor(cal_data.labels)
        )
        refit = surrogate.refit()
        surrogate.save(config.output_dir)
        if mlflow is not None:
            mlflow.log_metrics(
                {
                    "refit_seconds": refit.seconds,
                    **{f"scale_{t}": s for t, s in refit.scales.items()},
                }
            )
            mlflow.log_artifacts(str(config.output_dir), artifact_path="checkpoint")
    return TrainResult(config.output_dir, refit)


def evaluate(
    checkpoint: str | Path,
    split: str = "test",
    dataset: str = "mp_20",
    data_dir: str | Path | None = None,
    max_structures: int | None = None,
    tracking_config: TrackingSettings | None = None,
    seed: int = 0,
) -> Evaluation:
    """Metrics of a saved surrogate on a split (at most ``max_structures``, drawn at random);
    logged to MLflow when ``tracking_config`` is given and enabled."""
    surrogate = Surrogate.load(checkpoint)
    data = load_labeled(
        DataConfig(dataset=dataset, data_dir=data_dir, targets=surrogate.targets),
        [split],
        max_structures,
        seed,
    )
    evaluation = evaluate_surrogate(surrogate, data)
    if tracking_config is not None:
        params = {"checkpoint": str(checkpoint), "split": split}
        with tracking(tracking_config, f"evaluate {split}", params) as mlflow:
            if mlflow is not None:
                mlflow.log_metrics(flat_metrics(evaluation, split))
    return evaluation
