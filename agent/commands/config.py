"""``matterloop config reference | check``: the configuration reference, and validating a file."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

KINDS = ("campaign", "generator", "surrogate")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "config",
        help="configuration reference and validation",
        description="The reference of every configuration key (generated from the schemas), "
        "and validation of a configuration file without running it.",
    )
    commands = parser.add_subparsers(dest="config_command", required=True, metavar="COMMAND")

    reference = commands.add_parser(
        "reference",
        help="print or write the configuration reference (Markdown)",
        description="Every section and key of campaign, generator-training, surrogate-training "
        "and oracle configurations, with type, default, bounds and description, as Markdown. "
        "The repository's docs/configuration.md is this command's output.",
    )
    reference.add_argument("--out", type=Path, help="write to this file instead of stdout")
    reference.set_defaults(handler=run_reference)

    check = commands.add_parser(
        "check",
        help="validate a configuration file",
        description="Read and validate a YAML configuration; print what it defines, or each "
        "bad field (exit code 2).",
    )
    check.add_argument("config", type=Path, help="YAML file")
    check.add_argument("--kind", choices=KINDS, default="campaign", help="what the file configures")
    check.set_defaults(handler=run_check)


def run_reference(args: argparse.Namespace) -> int:
    from agent.config_reference import configuration_reference

    text = configuration_reference()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        Console().print(f"wrote {args.out}", highlight=False)
    else:
        print(text, end="")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from agent.yaml_config import load_yaml_config

    if args.kind == "campaign":
        from agent.campaign.config import load_campaign_config

        config = load_campaign_config(args.config)
        objectives = ", ".join(f"{o.direction} {o.name}" for o in config.objectives)
        constraints = ", ".join(c.name for c in config.constraints) or "none"
        summary = (
            f"campaign {config.name!r}: {objectives}; constraints: {constraints}; "
            f"oracle {config.oracle.name}; {config.budget.rounds} rounds"
        )
    elif args.kind == "generator":
        from generator.training.config import TrainConfig

        config = load_yaml_config(args.config, TrainConfig)
        summary = f"generator training: {config.optim.max_steps} steps into {config.output_dir}"
    else:
        from surrogates.config import load_config

        config = load_config(args.config)
        summary = f"surrogate {config.name!r}: targets {', '.join(config.data.targets)}"
    Console().print(f"{args.config}: valid {summary}", highlight=False, soft_wrap=True)
    return 0
