"""``matterloop surrogate``: train and evaluate property surrogates with calibrated uncertainty."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from matterloop.agent.cli.arguments import (
    add_data_dir_argument,
    add_training_arguments,
    positive_int,
)

if TYPE_CHECKING:
    from matterloop.surrogates.train import Evaluation


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("surrogate", help="property surrogates (MatGL + GP)")
    commands = group.add_subparsers(dest="surrogate_command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train a MatGL network and fit its calibrated GP heads",
        description="Train from a YAML config (configs/surrogates/*.yaml): the network on the "
        "training splits, the GP heads on the calibration split. Writes a checkpoint folder "
        "(network/ in MatGL's format, head.pt, surrogate.json) and logs to MLflow.",
    )
    add_training_arguments(train)
    train.add_argument("--epochs", type=positive_int, help="override training.epochs")
    train.add_argument(
        "--labels",
        type=Path,
        help="train on an oracle results file instead of the dataset (the output of `oracle "
        "run` or a campaign's results.jsonl; overrides data.results)",
    )
    train.set_defaults(handler=run_train)

    evaluate = commands.add_parser(
        "evaluate",
        help="held-out MAE, rank correlation, NLL and interval coverage of a checkpoint",
        description="Predict a dataset split with a saved surrogate and report, per target, "
        "MAE, RMSE, Spearman rho, Gaussian NLL and the coverage of the calibrated interval.",
    )
    evaluate.add_argument("checkpoint", type=Path, help="checkpoint folder written by train")
    evaluate.add_argument("--dataset", default="mp_20", help="dataset name (default mp_20)")
    evaluate.add_argument("--split", default="test", choices=("train", "val", "test"))
    add_data_dir_argument(evaluate)
    evaluate.add_argument("--max-structures", type=positive_int, help="random subset of the split")
    evaluate.add_argument("--tracking-uri", help="MLflow URI (default: the local store)")
    evaluate.add_argument("--experiment", default="surrogates", help="MLflow experiment")
    evaluate.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    evaluate.add_argument("--json", type=Path, help="also write the metrics to this JSON file")
    evaluate.set_defaults(handler=run_evaluate)


def metrics_table(title: str, evaluation: Evaluation) -> Table:
    """Per-target metrics; the caption gives the prediction throughput."""
    nominal = next(iter(evaluation.metrics.values())).nominal
    table = Table(title=title)
    for column in ("target", "n", "MAE", "RMSE", "Spearman ρ", "NLL", f"{nominal:.0%} coverage"):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target, m in evaluation.metrics.items():
        table.add_row(
            target,
            f"{m.count:,}",
            f"{m.mae:.4g}",
            f"{m.rmse:.4g}",
            f"{m.spearman:.3f}",
            f"{m.nll:.3f}",
            f"{m.coverage:.3f}",
        )
    table.caption = f"{evaluation.predictions_per_second:.0f} structures/s"
    return table


def run_train(args: argparse.Namespace) -> int:
    from matterloop.surrogates.config import load_config
    from matterloop.surrogates.train import train

    config = load_config(args.config)
    updates = {}
    if args.epochs is not None:
        updates["training"] = config.training.model_copy(update={"epochs": args.epochs})
    if args.output_dir is not None:
        updates["output_dir"] = args.output_dir
    if args.labels is not None:
        updates["data"] = config.data.model_copy(update={"results": args.labels})
    if args.no_mlflow:
        updates["tracking"] = config.tracking.model_copy(update={"enabled": False})
    config = config.model_copy(update=updates)
    result = train(config)
    labels = ", ".join(f"{t} {n:,}" for t, n in result.refit.num_labels.items())
    scales = ", ".join(f"{t} {s:.3f}" for t, s in result.refit.scales.items())
    Console().print(
        f"GP heads fitted in {result.refit.seconds:.2f} s on {labels} labels; σ scaled by "
        f"{scales} to cover {config.head.coverage:.0%}; checkpoint: {result.checkpoint}\n"
        f"measure it with: matterloop surrogate evaluate {result.checkpoint}"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from matterloop.core.tracking import TrackingSettings
    from matterloop.surrogates.train import evaluate

    tracking = TrackingSettings(
        tracking_uri=args.tracking_uri, experiment=args.experiment, enabled=not args.no_mlflow
    )
    evaluation = evaluate(
        args.checkpoint,
        split=args.split,
        dataset=args.dataset,
        data_dir=args.data_dir,
        max_structures=args.max_structures,
        tracking_config=tracking,
    )
    Console().print(metrics_table(f"{args.split} split", evaluation))
    if args.json:
        report = {t: asdict(m) for t, m in evaluation.metrics.items()}
        report["predictions_per_second"] = evaluation.predictions_per_second
        args.json.write_text(json.dumps(report, indent=2))
    return 0
