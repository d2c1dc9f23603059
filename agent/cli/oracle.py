"""``matterloop oracle``: label structures with an oracle, and list the oracles available.

``run`` appends one line per structure to the results file as soon as its result returns (the
layout of :mod:`matterloop.core.results_file`, which campaigns and label readers share), so an
interrupted run loses at most the structure in flight. A later run into the same file skips
the ids already in it (failed results included: a failure is a result) and evaluates the rest.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from pymatgen.core import Structure
from rich import box
from rich.console import Console
from rich.progress import track
from rich.table import Table

from matterloop.core.results_file import ResultRecord, append_result
from matterloop.core.writer_lock import exclusive_writer
from matterloop.data.dataset import read_records
from matterloop.oracles import OracleResult
from matterloop.oracles.errors import OracleInputError
from matterloop.oracles.properties import evaluate_checked
from matterloop.oracles.registry import (
    BUILTIN_ORACLES,
    DEFAULT_ORACLE,
    ENTRY_POINT_GROUP,
    close_oracle,
    load_oracle,
    registered_oracles,
)
from matterloop.oracles.results import outcome_line, read_results, repair_results

DEFAULT_OUT = Path("results.jsonl")
SUMMARY_ROWS = 50


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("oracle", help="ground-truth oracles: label structures")
    commands = group.add_subparsers(dest="oracle_command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="relax and label structures with an oracle",
        description="Evaluate structures (CIF, extxyz or MP-20-style CSV files; a folder stands "
        "for its CIF files) with an oracle. One JSON line per structure is appended to --out as "
        "soon as its result returns; a second run into the same file skips the structures "
        "already in it, by id (a CIF file's name, an extxyz frame's material_id or name, a CSV "
        "row's material_id). Failed structures are results too: the exit code is 0 unless the "
        "input is unusable (2).",
    )
    run.add_argument("structures", nargs="+", type=Path, metavar="STRUCTURES")
    run.add_argument(
        "--oracle",
        default=DEFAULT_ORACLE,
        help=f"built-in or registered oracle name, or 'package.module:Class' "
        f"(default {DEFAULT_ORACLE}; see 'matterloop oracle list')",
    )
    run.add_argument("--settings", type=Path, help="oracle settings (YAML mapping)")
    run.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"results file (default {DEFAULT_OUT})"
    )
    run.set_defaults(handler=run_oracle)

    listing = commands.add_parser(
        "list",
        help="list the built-in and registered oracles",
        description=f"Built-in oracles and those registered by installed packages in the "
        f"entry-point group {ENTRY_POINT_GROUP!r}.",
    )
    listing.set_defaults(handler=run_list)


def read_structures(paths: Sequence[Path], console: Console) -> dict[str, Structure]:
    """Structures by id from ``paths``, as written (no primitive reduction).

    Crystals the data layer cannot use (unparsable, disordered, overlapping atoms) are skipped
    with a warning. A missing or unreadable file raises :class:`DataError`; no structures at all,
    or an id that occurs twice, :class:`OracleInputError`.
    """
    records, skipped = read_records(paths, canonical=False, progress=False)
    if not records:
        raise OracleInputError(f"no structures to evaluate; {skipped.summary()}")
    if skipped.total:
        console.print(f"[yellow]warning:[/] {skipped.summary()}", highlight=False)
    ids = Counter(record.material_id for record in records)
    repeated = [identifier for identifier, count in ids.items() if count > 1]
    if repeated:
        raise OracleInputError(
            f"structure id(s) {', '.join(repeated[:5])} occur more than once in the inputs; "
            "ids key the results file, so evaluate such inputs into separate --out files"
        )
    return {record.material_id: record.structure for record in records}


def optional(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def summary_table(results: Mapping[str, OracleResult], out: Path) -> Table:
    """One row per structure (the first :data:`SUMMARY_ROWS`): formula, energy per atom (eV),
    |total magnetization| (µB), magnetic density (µB/Å³), convergence and failure reason."""
    table = Table(title=f"{len(results)} structure(s)")
    table.add_column("id")
    table.add_column("formula")
    for column in ("energy eV/atom", "|M| µB", "µB/Å³"):
        table.add_column(column, justify="right")
    table.add_column("converged")
    table.add_column("failure")
    for identifier, result in list(results.items())[:SUMMARY_ROWS]:
        structure = result.structure or result.initial_structure
        magnetization = result.total_magnetization
        table.add_row(
            identifier,
            structure.composition.reduced_formula,
            optional(result.energy_per_atom, ".4f"),
            optional(None if magnetization is None else abs(magnetization), ".3f"),
            optional(result.magnetic_density, ".4f"),
            "yes" if result.converged else "no",
            "" if result.ok else f"{result.failure.kind.value}: {result.failure.reason}",
        )
    if len(results) > SUMMARY_ROWS:
        table.caption = f"first {SUMMARY_ROWS} of {len(results)}; all in {out}"
    return table


def run_oracle(args: argparse.Namespace) -> int:
    console = Console()
    oracle = load_oracle(args.oracle, args.settings)
    structures = read_structures(args.structures, console)
    try:
        with exclusive_writer(args.out):
            repair_results(args.out, console)
            results = read_results(args.out, oracle.name, console)
            pending = [(i, s) for i, s in structures.items() if i not in results]
            if len(pending) < len(structures):
                console.print(
                    f"{len(structures) - len(pending)} of {len(structures)} structures already "
                    f"in {args.out}; skipped"
                )
            with args.out.open("a", encoding="utf-8") as handle:
                for identifier, structure in track(pending, description=oracle.name):
                    (result,) = evaluate_checked(oracle, [structure])
                    append_result(handle, ResultRecord(identifier, result))
                    results[identifier] = result
    finally:
        close_oracle(oracle)
    ours = {identifier: results[identifier] for identifier in structures}
    console.print(summary_table(ours, args.out))
    console.print(f"{outcome_line(ours)}; written to {args.out}", highlight=False, soft_wrap=True)
    return 0


def run_list(args: argparse.Namespace) -> int:
    table = Table(title="oracles", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("name", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("class", overflow="fold", ratio=1)
    table.add_column("description", ratio=1)
    for name, cls in BUILTIN_ORACLES.items():
        summary = " ".join((cls.__doc__ or "").split()).split(". ")[0].rstrip(".")
        table.add_row(name, "built-in", f"{cls.__module__}:\n{cls.__qualname__}", summary)
    for name, target in sorted(registered_oracles().items()):
        table.add_row(name, "plug-in", target.replace(":", ":\n"), "")
    console = Console()
    console.print(table)
    console.print(
        f"plug-ins: entry points of group {ENTRY_POINT_GROUP!r}, or a class named in a config",
        highlight=False,
        soft_wrap=True,
    )
    return 0
