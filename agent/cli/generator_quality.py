"""``matterloop generator evaluate`` and ``matterloop generator improve``: measuring a
generator's samples (validity, uniqueness, novelty, and with an oracle E_hull, RMSD and S.U.N.
after relaxation), and reward fine-tuning on an oracle's verdict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from matterloop.agent.cli.arguments import FAST_STEPS, add_data_dir_argument, positive_int
from matterloop.core.config import load_yaml_config
from matterloop.core.errors import ConfigError
from matterloop.generator.sample_writer import read_samples


def register(commands: argparse._SubParsersAction) -> None:
    """``evaluate`` and ``improve`` under ``matterloop generator``."""
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
    evaluate.add_argument(
        "--oracle",
        help="relax every sample with this oracle (e.g. chgnet) and report E_hull on the complete "
        "hull, stability (E_hull <= 0.1 eV/atom), RMSD to the relaxed structure (Å, failed "
        "matches at the cap) and S.U.N. (stable, unique, novel after relaxation)",
    )
    evaluate.add_argument("--oracle-settings", type=Path, help="oracle settings (YAML mapping)")
    evaluate.add_argument(
        "--hull",
        help="reference hull: a hull file, or an oracle with a shipped hull, completed with every "
        "MP-20 entry of the data folder (default: the oracle's)",
    )
    evaluate.set_defaults(handler=run_evaluate)

    improve = commands.add_parser(
        "improve",
        help="reward fine-tuning: the generator learns from an oracle's verdict on its samples",
        description="Rounds of: sample --samples crystals, relax them with --oracle on Ray, "
        "measure S.U.N. on the complete hull (novelty after relaxation), reward the relaxed "
        "structures (S.U.N. hits 1, novel near hits within --near-e-hull 0.25, the rest 0) and "
        "fine-tune the model on them with MP-20 replay. Resumes where it stopped; MLflow gets "
        "each round's figures. The last round's model is <out>/model.pt.",
    )
    improve.add_argument("--oracle", required=True, help="relaxing oracle, e.g. chgnet")
    improve.add_argument("--oracle-settings", type=Path, help="oracle settings (YAML mapping)")
    improve.add_argument("--rounds", type=positive_int, default=2)
    improve.add_argument(
        "--samples", type=positive_int, default=256, help="crystals sampled per round"
    )
    improve.add_argument(
        "--sampling-steps", type=positive_int, default=FAST_STEPS, help="reverse steps"
    )
    improve.add_argument("--start", type=Path, help="base model file (default: shipped base)")
    improve.add_argument(
        "--hull", help="hull file, or an oracle with a shipped hull (default: the oracle's)"
    )
    improve.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="BOUND",
        help="a bound a hit must also meet, repeatable: 'magnetic_density>0.1', 'band_gap<3'",
    )
    improve.add_argument("--finetune-steps", type=positive_int, default=300)
    improve.add_argument("--lr", type=float, default=5e-5, help="learning rate of the network")
    improve.add_argument(
        "--replay-fraction", type=float, default=0.5, help="share of MP-20 crystals per batch"
    )
    improve.add_argument("--near-hit-weight", type=float, default=0.25)
    improve.add_argument("--near-e-hull", type=float, default=0.2, help="eV/atom")
    improve.add_argument("--workers", type=positive_int, default=2, help="oracle workers")
    improve.add_argument("--seed", type=int, default=0)
    improve.add_argument("--tracking-uri", help="MLflow tracking URI (default: local store)")
    add_data_dir_argument(improve)
    improve.add_argument("--out", type=Path, required=True, help="output folder")
    improve.set_defaults(handler=run_improve)


def run_evaluate(args: argparse.Namespace) -> int:
    from matterloop.generator.evaluation import evaluate_samples, load_reference

    if not args.samples.exists():
        raise FileNotFoundError(f"{args.samples}: no such file or folder")
    names, structures = read_samples(args.samples)
    reference = load_reference(args.reference, args.data_dir)
    metrics = []
    if args.oracle:
        from matterloop.oracles.references import load_hull
        from matterloop.oracles.registry import close_oracle, load_oracle
        from matterloop.oracles.stability import StabilityMetric

        hull = load_hull(args.hull or args.oracle, args.data_dir)
        oracle = load_oracle(args.oracle, args.oracle_settings)
        metrics.append(StabilityMetric(oracle.evaluate, hull))
    try:
        report = evaluate_samples(structures, reference, names, metrics)
    finally:
        if args.oracle:
            close_oracle(oracle)
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


def parse_bound(text: str) -> dict[str, object]:
    """``'magnetic_density>0.1'`` → ``{"name": "magnetic_density", "min": 0.1}``."""
    for operator, key in ((">=", "min"), ("<=", "max"), (">", "min"), ("<", "max")):
        name, found, value = text.partition(operator)
        if found:
            try:
                return {"name": name.strip(), key: float(value)}
            except ValueError:
                break
    raise ConfigError(f"--require {text!r}: expected NAME>VALUE or NAME<VALUE")


def run_improve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from matterloop.agent.improve import GeneratorImprovement, ImproveSettings, rounds_table
    from matterloop.core.config import format_validation_error
    from matterloop.oracles.registry import OracleSettings

    oracle_settings = {}
    if args.oracle_settings:
        oracle_settings = load_yaml_config(args.oracle_settings, OracleSettings).root
    try:
        settings = ImproveSettings(
            oracle=args.oracle,
            oracle_settings=oracle_settings,
            out=args.out,
            rounds=args.rounds,
            samples=args.samples,
            sampling_steps=args.sampling_steps,
            start=args.start,
            hull=args.hull,
            seed=args.seed,
            workers=args.workers,
            require=tuple(parse_bound(text) for text in args.require),
            near_hit_weight=args.near_hit_weight,
            near_e_hull=args.near_e_hull,
            finetune_steps=args.finetune_steps,
            lr=args.lr,
            replay_fraction=args.replay_fraction,
            data_dir=args.data_dir,
            tracking_uri=args.tracking_uri,
        )
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "generator improve")) from exc
    console = Console()
    summaries = GeneratorImprovement(settings, console).run()
    console.print(rounds_table(summaries))
    console.print(f"model: {args.out / 'model.pt'}")
    return 0
