"""``matterloop generator``: train the diffusion model, sample crystals, evaluate samples."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress
from rich.table import Table

from agent.commands.arguments import (
    add_data_dir_argument,
    add_training_arguments,
    positive_int,
)
from agent.yaml_config import load_yaml_config
from generator.pretrained import default_checkpoint
from generator.sample_writer import SampleWriter, read_samples
from generator.sampling import SamplerConfig, sample_structures
from generator.training.config import TrainConfig
from generator.training.model_io import TrainedGenerator

FAST_STEPS = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("generator", help="the crystal diffusion model")
    commands = group.add_subparsers(dest="generator_command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train (or resume training of) a generator",
        description="Train the diffusion model from a YAML config (configs/generator/*.yaml). "
        "An existing checkpoint in the config's output_dir resumes exactly.",
    )
    add_training_arguments(train)
    train.add_argument("--max-steps", type=positive_int, help="override optim.max_steps")
    train.set_defaults(handler=run_train)

    sample = commands.add_parser(
        "sample",
        help="sample crystals to CIF files and one extxyz",
        description="Predictor-corrector sampling. Structures are written batch by batch; a "
        "second run into the same folder continues where the first stopped.",
    )
    sample.add_argument("--checkpoint", type=Path, help="model file (default: shipped base model)")
    sample.add_argument("--num", type=positive_int, default=256, help="structures to generate")
    sample.add_argument(
        "--steps", type=positive_int, help=f"reverse steps (default 1000; --fast: {FAST_STEPS})"
    )
    sample.add_argument("--fast", action="store_true", help=f"use {FAST_STEPS} steps")
    sample.add_argument("--batch-size", type=positive_int, default=64)
    sample.add_argument(
        "--num-atoms", type=positive_int, help="atoms per cell (default: drawn from data)"
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--out", type=Path, required=True, help="output folder")
    sample.set_defaults(handler=run_sample)

    evaluate = commands.add_parser(
        "evaluate",
        help="validity, uniqueness, novelty and distribution distances of samples",
        description="Evaluate generated structures (a folder of CIF files, or an extxyz/CIF "
        "file) against a reference dataset: per-structure JSON rows, a summary JSON, and a "
        "printed table.",
    )
    evaluate.add_argument("samples", type=Path, help="folder of CIF files, or an extxyz file")
    evaluate.add_argument("--reference", default="mp_20", help="reference dataset (default mp_20)")
    add_data_dir_argument(evaluate)
    evaluate.add_argument(
        "--out", type=Path, help="report JSON (default: <samples>/evaluation.json)"
    )
    evaluate.set_defaults(handler=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    from generator.training.trainer import Trainer

    config = load_yaml_config(args.config, TrainConfig)
    updates = {}
    if args.max_steps is not None:
        updates["optim"] = config.optim.model_copy(update={"max_steps": args.max_steps})
    if args.output_dir is not None:
        updates["output_dir"] = args.output_dir
    if args.no_mlflow:
        updates["tracking"] = config.tracking.model_copy(update={"enabled": False})
    config = config.model_copy(update=updates)
    trainer = Trainer(config)
    generator = trainer.run()
    Console().print(
        f"trained {generator.info['steps']} steps in {generator.info['train_seconds']:.0f} s; "
        f"validation loss {generator.info['validation_loss'].get('total', float('nan')):.4f}; "
        f"model: {trainer.model_path}"
    )
    return 0


def run_sample(args: argparse.Namespace) -> int:
    generator = TrainedGenerator.load(args.checkpoint or default_checkpoint())
    steps = args.steps or (FAST_STEPS if args.fast else 1000)
    config = SamplerConfig(num_steps=steps)
    writer = SampleWriter(args.out)
    dropped = 0
    with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        task = bar.add_task(
            f"sampling ({steps} steps)", total=args.num, completed=writer.num_written
        )
        while (written := writer.num_written) < args.num:
            size = min(args.batch_size, args.num - written)
            seed = args.seed * 1_000_003 + written
            torch.manual_seed(seed)
            if args.num_atoms:
                num_atoms = torch.full((size,), args.num_atoms)
            else:
                num_atoms = generator.draw_num_atoms(size, torch.Generator().manual_seed(seed))
            result = sample_structures(generator.model, num_atoms, config)
            writer.write_batch(result.structures)
            dropped += result.num_dropped
            bar.update(task, advance=len(result.structures))
    path = writer.finish()
    Console().print(
        f"{writer.num_written} structures in {args.out} (CIF files and {path.name}); "
        f"{dropped} diverged crystals dropped and replaced"
    )
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from generator.evaluation import evaluate_samples, load_reference

    if not args.samples.exists():
        raise FileNotFoundError(f"{args.samples}: no such file or folder")
    names, structures = read_samples(args.samples)
    reference = load_reference(args.reference, args.data_dir)
    report = evaluate_samples(structures, reference, names)
    out = (
        args.out
        or (args.samples if args.samples.is_dir() else args.samples.parent) / "evaluation.json"
    )
    out.write_text(
        json.dumps({"summary": report.summary, "structures": report.per_structure}, indent=2)
    )
    table = Table(title=f"{len(structures)} samples against {reference.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report.summary.items():
        shown = f"{100 * value:.1f}%" if name.endswith("_fraction") else f"{value:.4g}"
        table.add_row(name, shown)
    console = Console()
    console.print(table)
    console.print(f"report: {out}")
    return 0
