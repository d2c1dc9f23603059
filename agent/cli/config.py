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
        description="List every import the configuration would perform (plug-in oracles and "
        "calculators, 'package.module:function' quantities) before anything is imported, then "
        "read and validate it; print what it defines, or each bad field (exit code 2).",
    )
    check.add_argument("config", type=Path, help="YAML file")
    check.add_argument("--kind", choices=KINDS, default="campaign", help="what the file configures")
    check.set_defaults(handler=run_check)


def run_reference(args: argparse.Namespace) -> int:
    from matterloop.agent.config_reference import configuration_reference

    text = configuration_reference()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        Console().print(f"wrote {args.out}", highlight=False)
    else:
        print(text, end="")
    return 0


def config_imports(raw: object) -> list[tuple[str, str]]:
    """``(key path, what is imported)`` for every ``package.module:attribute`` value of the
    config ``raw`` (as read from YAML) and every oracle named by a plug-in entry point, found
    without importing anything."""
    from matterloop.core.imports import import_specs
    from matterloop.oracles.registry import ENTRY_POINT_GROUP, registered_oracles

    imports = list(import_specs(raw))
    oracle = raw.get("oracle") if isinstance(raw, dict) else None
    name = oracle.get("name") if isinstance(oracle, dict) else None
    plugins = registered_oracles()
    if isinstance(name, str) and name in plugins:
        imports.append(("oracle.name", f"{plugins[name]} (entry point {ENTRY_POINT_GROUP})"))
    return imports


def run_check(args: argparse.Namespace) -> int:
    import yaml

    from matterloop.core.config import load_yaml_config

    console = Console()
    try:
        raw = yaml.safe_load(args.config.read_text())
    except (OSError, yaml.YAMLError):
        raw = None  # the validation below names the problem
    imports = config_imports(raw)
    if imports:
        console.print(
            f"{args.config} imports and runs this code (a config is code: run only configs you "
            "trust):",
            highlight=False,
            soft_wrap=True,
        )
        for where, target in imports:
            console.print(f"  {where}: {target}", highlight=False, soft_wrap=True)
    else:
        console.print(
            f"{args.config} imports no code beyond matterloop's own",
            highlight=False,
            soft_wrap=True,
        )
    if args.kind == "campaign":
        from matterloop.agent.campaign.config import load_campaign_config

        config = load_campaign_config(args.config)
        objectives = ", ".join(f"{o.direction} {o.name}" for o in config.objectives)
        constraints = ", ".join(c.name for c in config.constraints) or "none"
        summary = (
            f"campaign {config.name!r}: {objectives}; constraints: {constraints}; "
            f"oracle {config.oracle.name}; {config.budget.rounds} rounds"
        )
    elif args.kind == "generator":
        from matterloop.generator.training.config import TrainConfig

        config = load_yaml_config(args.config, TrainConfig)
        summary = f"generator training: {config.optim.max_steps} steps into {config.output_dir}"
    else:
        from matterloop.surrogates.config import load_config

        config = load_config(args.config)
        summary = f"surrogate {config.name!r}: targets {', '.join(config.data.targets)}"
    console.print(f"{args.config}: valid {summary}", highlight=False, soft_wrap=True)
    return 0
