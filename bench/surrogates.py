"""Surrogate quality and cost on MP-20: held-out accuracy, calibration and refit time.

Trains the surrogate of a config (network on the training splits, GP heads on the calibration
split), then measures on the test split: MAE, Spearman ρ, Gaussian NLL and empirical coverage of
the calibrated interval per target, predictions per second from structures (embedding + GP), and
seconds per refit of the GP heads at several label counts (embeddings of the calibration split):
cold (first fit) and warm (after adding 1% more labels, from the previous hyperparameters, as in
an active-learning round), and predictions per second from precomputed features (GP only).

    python -m bench.surrogates [--config configs/surrogates/mp20_tensornet.yaml] [--data-dir DIR]
        [--epochs N] [--max-train N] [--max-test N] [--refit-sizes 500 5000] [--threads 1]
    python -m bench.surrogates --checkpoint surrogates/pretrained/mp20_tensornet [--max-test N]

``--checkpoint`` measures a surrogate trained before (e.g. the shipped one) instead of training.

Run it as a module from the repository root: as a script, this file's name would hide the
``surrogates`` package.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from matterloop.surrogates.config import DataConfig, load_config
from matterloop.surrogates.head import gp_inputs
from matterloop.surrogates.surrogate import Surrogate
from matterloop.surrogates.train import evaluate, load_labeled, train

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs/surrogates/mp20_tensornet.yaml"


def refit_seconds(trained: Surrogate, num_labels: int) -> tuple[float, float]:
    """Seconds of a cold refit of every head on the first ``num_labels`` stored embeddings, and
    of a warm refit after adding 1% more."""
    surrogate = Surrogate(trained.network, trained.targets, trained.head)
    surrogate.add_embedded(trained.embeddings[:num_labels], trained.labels[:num_labels])
    cold = surrogate.refit().seconds
    more = slice(num_labels, num_labels + max(1, num_labels // 100))
    surrogate.add_embedded(trained.embeddings[more], trained.labels[more])
    return cold, surrogate.refit().seconds


def feature_predictions_per_second(trained: Surrogate) -> float:
    """Posterior means and deviations per second from precomputed features."""
    features = gp_inputs(trained.embeddings)
    start = time.perf_counter()
    trained.predict(features)
    return len(features) / (time.perf_counter() - start)


def trained_surrogate(args: argparse.Namespace, output_dir: Path) -> tuple[str, float]:
    """Train the surrogate of ``args.config`` into ``output_dir`` with enough calibration labels
    for the largest refit size; returns a description of the run and its seconds."""
    config = load_config(args.config)
    data = config.data.model_copy(
        update={
            "data_dir": args.data_dir or config.data.data_dir,
            "max_train": args.max_train or config.data.max_train,
            "max_calibration": max(args.refit_sizes) * 101 // 100 + 1,
        }
    )
    training = config.training.model_copy(update={"epochs": args.epochs or config.training.epochs})
    config = config.model_copy(
        update={
            "data": data,
            "training": training,
            "output_dir": output_dir,
            "tracking": config.tracking.model_copy(update={"enabled": False}),
        }
    )
    start = time.perf_counter()
    train(config, progress=False)
    return f"{config.name}, {training.epochs} epochs", time.perf_counter() - start


def with_refit_labels(trained: Surrogate, args: argparse.Namespace) -> Surrogate:
    """``trained`` with at least enough stored embeddings for the largest refit size: those it
    has, then embedded test structures (their labels only time the refits, no accuracy is
    read from them)."""
    needed = max(args.refit_sizes) * 101 // 100 + 1 - len(trained.labels)
    if needed <= 0:
        return trained
    data = DataConfig(data_dir=args.data_dir, targets=trained.targets)
    extra = load_labeled(data, ["test"], needed, seed=1)
    trained.add_embedded(trained.embed(extra.structures), torch.as_tensor(extra.labels))
    return trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument(
        "--checkpoint", type=Path, help="measure this trained surrogate instead of training one"
    )
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--epochs", type=int, help="override training.epochs")
    parser.add_argument("--max-train", type=int, help="override data.max_train")
    parser.add_argument("--max-test", type=int, help="random subset of the test split")
    parser.add_argument("--refit-sizes", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as scratch:
        if args.checkpoint is None:
            checkpoint = Path(scratch)
            run, train_seconds = trained_surrogate(args, checkpoint)
            run += f", train + heads {train_seconds:.0f} s"
        else:
            checkpoint, run = args.checkpoint, f"{args.checkpoint} (trained before)"
        test = evaluate(checkpoint, "test", "mp_20", args.data_dir, args.max_test, seed=0)
        trained = Surrogate.load(checkpoint)
    scales = ", ".join(f"{t} {s:.2f}" for t, s in trained.scales.items())
    trained = with_refit_labels(trained, args)
    refits = {n: refit_seconds(trained, n) for n in args.refit_sizes}
    feature_rate = feature_predictions_per_second(trained)
    print(f"{run}; {torch.get_num_threads()} threads")
    print()
    print("| target | test n | MAE | Spearman ρ | NLL | 90% coverage |")
    print("|---|---|---|---|---|---|")
    for target, m in test.metrics.items():
        print(
            f"| {target} | {m.count:,} | {m.mae:.4f} | {m.spearman:.3f} | {m.nll:.3f} "
            f"| {m.coverage:.3f} |"
        )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(
        f"| predictions per second (structures → posterior) | {test.predictions_per_second:.0f} |"
    )
    print(f"| predictions per second (features → posterior) | {feature_rate:.0f} |")
    heads = len(trained.targets)
    for n, (cold, warm) in refits.items():
        print(f"| seconds per refit of {heads} GP heads, {n:,} labels, cold / warm ", end="")
        print(f"| {cold:.2f} / {warm:.2f} |")
    print(f"| calibration scale of σ | {scales} |")


if __name__ == "__main__":
    main()
