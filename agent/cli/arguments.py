"""Argument types and options shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

from pymatgen.core import Element

from matterloop.data.properties import ConditionError
from matterloop.generator.conditioning.properties import element_numbers

FAST_STEPS = 100
"""Reverse steps of a quick sample (``--fast``, and ``generator improve``'s default)."""


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def chemical_system(text: str) -> list[str]:
    """The element symbols of a chemical system written ``Fe-Mn-O``."""
    try:
        return [Element.from_Z(number).symbol for number in element_numbers(text)]
    except ConditionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_data_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory (default: $MATTERLOOP_DATA_DIR, else ~/.local/share/matterloop)",
    )


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` (required), ``--output-dir`` and ``--no-mlflow`` of a training command."""
    parser.add_argument("--config", type=Path, required=True, help="training config (YAML)")
    parser.add_argument("--output-dir", type=Path, help="override output_dir")
    parser.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
