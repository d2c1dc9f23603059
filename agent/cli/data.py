"""``matterloop data``: dataset statistics and downloads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from matterloop.agent.cli.arguments import add_data_dir_argument
from matterloop.data import compute_stats, load_dataset_split, resolve_data_dir
from matterloop.data.fetch import (
    Checksum,
    FetchError,
    download,
    known_source,
    split_destination,
)
from matterloop.data.paths import SPLITS, canonical_dataset_name
from matterloop.data.quantities import KNOWN_QUANTITIES
from matterloop.data.stats import DatasetStats

HISTOGRAM_WIDTH = 40
TOP_ELEMENTS = 15


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: statistics and downloads")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    stats = commands.add_parser(
        "stats",
        help="print per-split statistics of a dataset",
        description="Per split: structures read and skipped, the atom-count histogram, element "
        "frequencies, the mean atomic density and label ranges.",
    )
    stats.add_argument("dataset", nargs="?", default="mp_20", help="dataset name (default mp_20)")
    stats.add_argument("--split", nargs="+", choices=SPLITS, default=list(SPLITS))
    add_data_dir_argument(stats)
    stats.add_argument("--no-cache", action="store_true", help="re-read the files, ignore caches")
    stats.add_argument("--json", type=Path, help="also write the statistics to this JSON file")
    stats.set_defaults(handler=run_stats)

    fetch = commands.add_parser(
        "fetch",
        help="download and verify dataset splits",
        description="Download splits into <data-dir>/<dataset>/structures/. Without --url the "
        "known public source is used (MP-20: CDVAE's CSV files, verified by git blob id). A file "
        "is only put in place once its checksum matches.",
    )
    fetch.add_argument("dataset", help="dataset name, e.g. mp20")
    fetch.add_argument("--split", nargs="+", choices=SPLITS, default=list(SPLITS))
    fetch.add_argument("--url", help="URL of the file (one split at a time)")
    fetch.add_argument("--sha256", help="expected SHA-256 of the file (required with --url)")
    add_data_dir_argument(fetch)
    fetch.add_argument("--force", action="store_true", help="download even if the file exists")
    fetch.set_defaults(handler=run_fetch)

    arrangements = commands.add_parser(
        "arrangements",
        help="count the Wyckoff arrangements of a dataset's crystals",
        description="Read off every crystal of the chosen splits its space group and Wyckoff "
        "arrangement (spglib, symprec 0.1: orbits, their sizes, which share an element) and "
        "write how often each occurs (gzip JSON), the table that `generator sample --wyckoff` "
        "draws from. The shipped table is `data arrangements mp_20 --split train val`.",
    )
    arrangements.add_argument("dataset", nargs="?", default="mp_20", help="dataset name")
    arrangements.add_argument("--split", nargs="+", choices=SPLITS, default=["train", "val"])
    add_data_dir_argument(arrangements)
    arrangements.add_argument("--out", type=Path, required=True, help="table file (.json.gz)")
    arrangements.set_defaults(handler=run_arrangements)

    quantities = commands.add_parser(
        "quantities",
        help="list the quantities matterloop knows, their units and aliases",
        description="The one name and unit of each quantity, as campaigns, `generator finetune "
        "--property`, `generator sample --condition` and label files use them; an alias (e.g. "
        "MP-20's dft_mag_density) means the same quantity everywhere. An oracle may declare "
        "more properties of its own.",
    )
    quantities.set_defaults(handler=run_quantities)


def stats_tables(split: str, stats: DatasetStats) -> list[Table]:
    """Rich tables for one split's statistics."""
    summary = Table(title=f"{split}: {stats.num_structures:,} structures", show_header=False)
    summary.add_row("skipped", f"{stats.num_skipped:,}")
    for reason, count in stats.skip_reasons.items():
        summary.add_row(f"  {reason}", f"{count:,}")
    summary.add_row("mean atomic density", f"{stats.mean_atomic_density:.4f} Å⁻³")

    histogram = Table(title=f"{split}: atoms per cell")
    histogram.add_column("atoms", justify="right")
    histogram.add_column("structures", justify="right")
    histogram.add_column("")
    top = max(stats.num_atoms_histogram.values(), default=1)
    for n, count in sorted(stats.num_atoms_histogram.items()):
        histogram.add_row(str(n), f"{count:,}", "█" * round(HISTOGRAM_WIDTH * count / top))

    elements = Table(title=f"{split}: most frequent elements ({len(stats.element_counts)} in all)")
    elements.add_column("element")
    elements.add_column("atoms", justify="right")
    elements.add_column("structures", justify="right")
    total_atoms = sum(stats.element_counts.values())
    for symbol, count in list(stats.element_counts.items())[:TOP_ELEMENTS]:
        elements.add_row(
            symbol,
            f"{count:,} ({100 * count / total_atoms:.1f}%)",
            f"{stats.element_structure_counts[symbol]:,}",
        )

    labels = Table(title=f"{split}: labels")
    for column in ("label", "count", "min", "median", "max"):
        labels.add_column(column, justify="left" if column == "label" else "right")
    for name, r in stats.property_ranges.items():
        labels.add_row(
            name, f"{r.count:,}", f"{r.minimum:.4g}", f"{r.median:.4g}", f"{r.maximum:.4g}"
        )
    return [summary, histogram, elements, labels]


def run_quantities(args: argparse.Namespace) -> int:
    table = Table(title="quantities (any name or alias may be used)")
    table.add_column("name", no_wrap=True)
    table.add_column("unit", no_wrap=True)
    for column in ("aliases", "meaning"):
        table.add_column(column, overflow="fold")
    for item in KNOWN_QUANTITIES.values():
        table.add_row(item.name, item.unit, ", ".join(item.aliases), item.description)
    Console().print(table)
    return 0


def run_stats(args: argparse.Namespace) -> int:
    console = Console()
    report = {}
    for split in args.split:
        dataset = load_dataset_split(
            args.dataset, split, args.data_dir, use_cache=not args.no_cache
        )
        if dataset.skipped.total:
            console.print(f"[yellow]warning:[/] {dataset.skipped.summary()}")
        stats = compute_stats(dataset)
        report[split] = stats.to_dict()
        for table in stats_tables(split, stats):
            console.print(table)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        console.print(f"statistics written to {args.json}")
    return 0


def run_fetch(args: argparse.Namespace) -> int:
    console = Console()
    dataset = canonical_dataset_name(args.dataset)
    if args.url and len(args.split) != 1:
        raise FetchError("--url names one file: give exactly one --split with it")
    if args.url and not args.sha256:
        raise FetchError("--url needs --sha256: downloads are always verified")
    if args.sha256 and not args.url:
        raise FetchError("--sha256 goes with --url")
    data_dir = resolve_data_dir(args.data_dir)
    for split in args.split:
        if args.url:
            url, checksum = args.url, Checksum("sha256", args.sha256)
        else:
            url, checksum = known_source(dataset, split)
        destination = split_destination(dataset, split, url, data_dir)
        if destination.exists() and not args.force:
            console.print(f"{destination} exists; skipped (use --force to download again)")
            continue
        download(url, destination, checksum)
        console.print(f"{split}: {url} -> {destination} ({checksum.kind} verified)")
    return 0


def run_arrangements(args: argparse.Namespace) -> int:
    from matterloop.generator.symmetry import ArrangementTable

    crystals = []
    for split in args.split:
        dataset = load_dataset_split(args.dataset, split, args.data_dir)
        crystals += [dataset[i] for i in track(range(len(dataset)), description=split)]
    source = f"{args.dataset} {'+'.join(args.split)}"
    table = ArrangementTable.from_crystals(crystals, source)
    table.save(args.out)
    p1 = table.space_group_shares().get(1, 0.0)
    Console().print(
        f"{len(table):,} arrangements of {int(table.counts.sum()):,} of {len(crystals):,} "
        f"crystals ({source}; {p1:.1%} in P1) written to {args.out}",
        highlight=False,
        soft_wrap=True,
    )
    return 0
