"""The ``matterloop`` parser, its command groups, and how errors end a command (exit codes)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from importlib.metadata import version

from rich.console import Console
from rich.markup import escape

from matterloop.agent.cli import (
    campaign,
    config,
    data,
    generator,
    oracle,
    reference,
    surrogate,
    ui,
)
from matterloop.core.errors import MatterloopError
from matterloop.generator.sampling import SamplingError

COMMAND_GROUPS = (campaign, config, data, generator, surrogate, oracle, reference, ui)
USER_ERRORS = (MatterloopError, FileNotFoundError)
"""Bad input (a config, a structure file, a checkpoint, a campaign directory): exit code 2, like
the argument errors of ``argparse``, with the message alone (it names the file and the problem)."""
RUN_ERRORS = (SamplingError,)
"""A run that failed on good input: exit code 1. Other exceptions are bugs: their traceback is
printed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matterloop",
        description="Inverse materials design: guided crystal generation, surrogates, "
        "acquisition and oracles in an active-learning loop.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('matterloop')}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def print_error(error: Exception) -> None:
    """``error: <message>`` on stderr; the message is shown as written (no markup)."""
    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 success, 1 failure, 2 bad input, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except USER_ERRORS as exc:
        print_error(exc)
        return 2
    except RUN_ERRORS as exc:
        print_error(exc)
        return 1
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        return 130
