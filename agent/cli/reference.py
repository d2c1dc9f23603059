"""``matterloop reference build``: a reference hull of a dataset's structures, from an oracle.

The structures of the chosen splits (single points by default, ``--relax`` to relax them; with
``--elements Fe-Mn`` only those of that chemical system and its subsystems) and, for
every element they contain, a relaxed elemental reference (positions and cell; see
:mod:`matterloop.oracles.references.selection`) are labeled as Ray tasks. Every result is appended
to the results file next to ``--out`` (``<name>.jsonl`` for ``<name>.json.gz``; the line format of
``matterloop oracle run``) and pushed to disk as soon as its chunk returns, keyed
``<material_id>:static`` or ``<material_id>:relaxed``; a later run skips the keys already there. At
the end the hull of every labeled structure is written to ``--out``
(:meth:`matterloop.oracles.ReferenceHull.save`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console

from matterloop.agent.cli.arguments import add_data_dir_argument, chemical_system, positive_int
from matterloop.core.config import load_yaml_config
from matterloop.data.paths import SPLITS
from matterloop.oracles.references.build import HullRequest, RayOptions, build_hull
from matterloop.oracles.registry import DEFAULT_ORACLE, OracleSettings, load_oracle
from matterloop.oracles.results import outcome_line


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("reference", help="reference hulls computed with an oracle")
    commands = group.add_subparsers(dest="reference_command", required=True, metavar="COMMAND")
    build = commands.add_parser(
        "build",
        help="compute a dataset's reference hull with an oracle, as Ray tasks",
        description="Label the structures of a dataset, plus a relaxed reference structure of "
        "every element in them, with an oracle as Ray tasks, and write the reference hull "
        "(gzip JSON) to --out. Results go to <name>.jsonl next to --out as they return; a "
        "second run skips those already there.",
    )
    build.add_argument("--data", default="mp_20", help="dataset (default mp_20)")
    build.add_argument(
        "--split",
        default=",".join(SPLITS),
        help=f"comma-separated splits (default {','.join(SPLITS)})",
    )
    build.add_argument("--limit", type=positive_int, help="only the first N structures")
    build.add_argument(
        "--elements",
        metavar="SYSTEM",
        type=chemical_system,
        help="only the structures of a chemical system and its subsystems, e.g. Fe-Mn-O, plus "
        "its elemental references: a hull that holds every phase there (a two-fidelity "
        "campaign's fidelity.oracle_hull)",
    )
    build.add_argument("--oracle", default=DEFAULT_ORACLE, help=f"(default {DEFAULT_ORACLE})")
    build.add_argument("--settings", type=Path, help="oracle settings (YAML mapping)")
    build.add_argument("--out", type=Path, required=True, help="hull file (.json.gz)")
    mode = build.add_mutually_exclusive_group()
    mode.add_argument(
        "--relax",
        dest="relax",
        action="store_true",
        help="relax the dataset's structures (positions and cell)",
    )
    mode.add_argument(
        "--static",
        dest="relax",
        action="store_false",
        help="single points on the structures as given (default)",
    )
    build.add_argument(
        "--workers", type=positive_int, default=1, help="CPUs of the local Ray instance"
    )
    build.add_argument("--ray-address", help="connect to this Ray cluster instead")
    build.add_argument(
        "--chunk-size",
        type=positive_int,
        default=RayOptions.chunk_size,
        help=f"structures per Ray task (default {RayOptions.chunk_size})",
    )
    add_data_dir_argument(build)
    build.set_defaults(handler=run_build, relax=False)


def run_build(args: argparse.Namespace) -> int:
    console = Console()
    start = time.perf_counter()
    oracle = load_oracle(args.oracle, args.settings)  # checks the name and the settings
    request = HullRequest(
        oracle=oracle.name,
        settings=load_yaml_config(args.settings, OracleSettings).root if args.settings else {},
        out=args.out,
        dataset=args.data,
        splits=tuple(split.strip() for split in args.split.split(",") if split.strip()),
        limit=args.limit,
        elements=tuple(args.elements) if args.elements else None,
        relax=args.relax,
        data_dir=args.data_dir,
        ray=RayOptions(args.workers, args.ray_address, args.chunk_size),
    )
    built = build_hull(request, console)
    console.print(
        f"{outcome_line(built.results)}; {built.jobs - len(built.results)} not labeled. Hull of "
        f"{len(built.hull.energies)} composition(s), {len(built.hull.elements)} element(s), "
        f"written to {args.out} in {time.perf_counter() - start:.0f} s",
        highlight=False,
        soft_wrap=True,
    )
    return 0
