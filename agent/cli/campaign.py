"""``matterloop run | status | pareto | report``: run a campaign, and look at one without MLflow."""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from matterloop.agent.campaign.config import CampaignConfig, load_campaign_config
from matterloop.agent.cli.arguments import positive_int

if TYPE_CHECKING:
    from matterloop.oracles.hull import ReferenceHull

QUICKSTART = "quickstart.yaml"
NOVELTY_SHOWN = {"formula_without_structure": "formula known"}
"""Novelty values as the front table shows them (80 columns)."""
NOVELTY_LEGEND = (
    "novelty after relaxation: novel; known (matches an MP-20 structure); repeat (of an "
    "earlier result); formula known (the formula of an MP-20 entry without positions here)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="start or resume a campaign",
        description="Run the active-learning campaign of a YAML config (default: the quickstart "
        "campaign shipped with the package). Its state lives in the campaign directory; running "
        "the same config again resumes where it stopped, without repeating or losing an oracle "
        "result. Only the budget, ray and mlflow sections may change between runs.",
    )
    run.add_argument("config", type=Path, nargs="?", help="campaign YAML (default: quickstart)")
    run.add_argument("--dir", type=Path, help="campaign directory (overrides the config's)")
    run.add_argument("--rounds", type=positive_int, help="override budget.rounds")
    run.add_argument("--ray-address", help="join this Ray cluster (overrides ray.address)")
    run.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    run.set_defaults(handler=run_campaign)

    status = subparsers.add_parser(
        "status",
        help="print a campaign's rounds",
        description="One row per completed round: candidates, evaluations, failures, hits "
        "and results known after relaxation so far, hypervolume of all and of the novel "
        "results, Pareto-front size and seconds.",
    )
    status.add_argument("directory", type=Path, help="campaign directory")
    status.set_defaults(handler=run_status)

    pareto = subparsers.add_parser(
        "pareto",
        help="print a campaign's Pareto front and write its plot",
        description="The current Pareto front of the labeled structures as a table, and a plot "
        "of all labels with the front after each round (earlier rounds faded).",
    )
    pareto.add_argument("directory", type=Path, help="campaign directory")
    pareto.add_argument("--out", type=Path, help="plot file (default: <directory>/pareto.png)")
    pareto.set_defaults(handler=run_pareto)

    report = subparsers.add_parser(
        "report",
        help="write a campaign's report as one HTML page",
        description="One self-contained HTML page (readable offline): the Pareto front after "
        "each round, hypervolume against oracle calls, a sortable table of the front members "
        "with space groups, pictures and CIF downloads, the rounds, and the stored config.",
    )
    report.add_argument("directory", type=Path, help="campaign directory")
    report.add_argument("--out", type=Path, help="HTML file (default: <directory>/report.html)")
    report.set_defaults(handler=run_report)

    confirm = subparsers.add_parser(
        "confirm",
        help="relabel a campaign's front with another oracle (e.g. DFT)",
        description="Relabel the current Pareto front of a campaign (or its --top best hits by "
        "the first objective) with another oracle, as Ray tasks on the members' relaxed "
        "structures, and print the front before and after side by side. Results are journaled "
        "in <directory>/confirm/<oracle>/ as they return, so a killed run resumes without "
        "repeating a calculation; the table goes there (table.csv), into the campaign's report "
        "and, when the campaign logs to MLflow, into its run.",
    )
    confirm.add_argument("directory", type=Path, help="campaign directory")
    confirm.add_argument("--oracle", required=True, help="confirming oracle, e.g. gpaw")
    confirm.add_argument(
        "--oracle-settings", type=Path, help="its settings (YAML mapping, as in a config)"
    )
    confirm.add_argument(
        "--top", type=positive_int, help="confirm the K best hits instead of the front"
    )
    confirm.set_defaults(handler=run_confirm)


def quickstart_path() -> Path:
    return Path(str(files("matterloop.agent.campaign") / QUICKSTART))


def read_config(args: argparse.Namespace) -> tuple[CampaignConfig, dict]:
    """The validated config with the command line's overrides, and its raw form to store."""
    path = args.config or quickstart_path()
    config = load_campaign_config(path)
    raw = yaml.safe_load(path.read_text())
    overrides = {}
    if args.dir:
        overrides["directory"] = args.dir
    if args.rounds:
        overrides["budget"] = config.budget.model_copy(update={"rounds": args.rounds})
    if args.ray_address:
        overrides["ray"] = config.ray.model_copy(update={"address": args.ray_address})
    if args.no_mlflow:
        overrides["tracking"] = config.tracking.model_copy(update={"enabled": False})
    config = config.model_copy(update=overrides)
    raw = {**raw, **config.model_dump(mode="json", include=set(overrides))}
    raw.pop("directory", None)
    return config, raw


def run_campaign(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.loop import Campaign
    from matterloop.agent.campaign.tracking import campaign_tracking_uri

    console = Console()
    config, raw = read_config(args)
    console.print(f"campaign {config.name} in {config.campaign_dir}", highlight=False)
    try:
        campaign = Campaign(config, raw, console)
        table = campaign.run()
    finally:
        import ray

        ray.shutdown()
    show_front(console, config, table, config.campaign_dir / "pareto.png", campaign.hull)
    if config.tracking.enabled:
        uri = campaign_tracking_uri(config)
        browse = (
            f"matterloop ui {config.campaign_dir}"
            if uri.startswith("sqlite:")
            else f"{uri} in a browser"
        )
        console.print(
            f"MLflow: experiment {config.tracking.experiment!r} at {uri}; browse with\n  {browse}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"rounds: matterloop status {config.campaign_dir}\n"
        f"report: matterloop report {config.campaign_dir}",
        highlight=False,
        soft_wrap=True,
    )
    return 0


def stored_config(directory: Path) -> CampaignConfig:
    from matterloop.agent.campaign.store import CampaignStore

    store = CampaignStore(directory)
    store.load_state()
    config = load_campaign_config(store.config_path)
    return config.model_copy(update={"directory": directory})


def show_front(
    console: Console, config: CampaignConfig, table, plot: Path, hull: ReferenceHull | None
) -> None:
    """Print the Pareto front of the label ``table`` (each member's novelty after relaxation),
    the hits, the front of the novel results and where E_hull comes from (``hull``), and write
    the plot to ``plot``."""
    from matterloop.agent.campaign.labels import novel_rows, stability_note
    from matterloop.agent.campaign.pareto import front_table, plot_fronts
    from matterloop.agent.campaign.quantities import quantity

    front = front_table(table, config.objectives)
    quantities = list(dict.fromkeys([*config.modelled, *config.computed, "e_above_hull"]))
    shown = ["id", "formula", *quantities, "novelty"]
    rich_table = Table(
        title=f"Pareto front: {len(front)} of {len(table)} labeled structures",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for column in shown:
        if column in quantities:
            described = quantity(column)
            rich_table.add_column(f"{described.header}\n{described.unit}", justify="right")
        else:
            rich_table.add_column(column, overflow="fold")
    for _, row in front.iterrows():
        rich_table.add_row(
            *(
                f"{row[c]:.4g}" if isinstance(row[c], float) else NOVELTY_SHOWN.get(row[c], row[c])
                for c in shown
            )
        )
    console.print(rich_table)
    console.print(NOVELTY_LEGEND, highlight=False, soft_wrap=True)
    novel_front = front_table(novel_rows(table), config.objectives)
    known = front[~front["novel"].astype(bool)]
    console.print(
        f"novel after relaxation: {int(table['novel'].sum())} of {len(table)} labeled, "
        f"{len(front) - len(known)} of {len(front)} on the front; front of novel results: "
        f"{', '.join(novel_front['id']) or 'none'}; hits (stable, novel, goals met): "
        f"{int(table['hit'].sum())}; {stability_note(config, hull)}",
        highlight=False,
        soft_wrap=True,
    )
    units = [quantity(o.name).unit for o in config.objectives]
    plot_fronts(table, config.objectives, plot, units)
    console.print(f"plot: {plot}", highlight=False, soft_wrap=True)


def compact(value: float) -> str:
    """Three significant digits in at most six characters: ``63.3``, ``0.179``, ``1.33k``,
    ``18M`` (a hypervolume's magnitude follows its objectives' units)."""
    rounded = float(f"{value:.3g}")
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(rounded) >= scale:
            return f"{rounded / scale:.3g}{suffix}"
    return f"{rounded:.3g}"


def run_status(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.store import CampaignStore

    store = CampaignStore(args.directory)
    state = store.load_state()
    config = stored_config(args.directory)
    table = Table(
        title=f"campaign {config.name}: {state.next_round} round(s) complete",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = {
        "round": "round", "method": "method", "candidates_generated": "gen",
        "candidates_kept": "kept", "evaluated": "eval", "oracle_failures": "fail",
        "hits": "hits", "known_results": "known", "hypervolume": "HV",
        "novel_hypervolume": "novel HV", "pareto_size": "front",
    }  # fmt: skip
    for header in (*columns.values(), "s"):
        table.add_column(header, justify="right", min_width=9 if header == "method" else None)
    for summary in store.summaries():
        values = [getattr(summary, c) for c in columns]
        cells = [compact(v) if isinstance(v, float) else str(v) for v in values]
        seconds = sum(summary.seconds.values())
        table.add_row(*cells, f"{seconds:.0f}")
    console = Console()
    console.print(table)
    console.print(
        "gen/kept: candidates generated and kept by the filters; eval/fail: oracle results and "
        "failures; hits: stable, novel after relaxation and every goal met (all rounds so far); "
        "known: results that relaxed into a known structure or repeat an earlier one; HV: "
        "hypervolume of all results, novel HV of the novel ones; front: Pareto-front size; "
        "s: seconds for the round",
        highlight=False,
    )
    console.print(f"{len(store.evaluations())} oracle results in {store.results_path}")
    return 0


def run_pareto(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.labels import campaign_hull, campaign_label_table
    from matterloop.agent.campaign.store import CampaignStore

    config = stored_config(args.directory)
    store = CampaignStore(args.directory)
    hull = campaign_hull(config)
    table = campaign_label_table(config, hull, store.evaluations(), store.screenings())
    show_front(Console(), config, table, args.out or args.directory / "pareto.png", hull)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.report import write_report
    from matterloop.agent.campaign.store import CampaignStore

    config = stored_config(args.directory)
    path = write_report(
        config, CampaignStore(args.directory), args.out or args.directory / "report.html"
    )
    Console().print(f"report: {path}", highlight=False, soft_wrap=True)
    return 0


def run_confirm(args: argparse.Namespace) -> int:
    from matterloop.agent.campaign.confirm import confirm_front, log_confirmation
    from matterloop.agent.campaign.quantities import quantity
    from matterloop.agent.campaign.store import CampaignStore
    from matterloop.core.config import load_yaml_config
    from matterloop.oracles.registry import OracleSettings, OracleSpec

    config = stored_config(args.directory)
    settings = {}
    if args.oracle_settings:
        settings = load_yaml_config(args.oracle_settings, OracleSettings).root
    spec = OracleSpec(name=args.oracle, settings=settings)
    console = Console()
    try:
        confirmed = confirm_front(args.directory, config, spec, args.top, console)
    finally:
        import ray

        ray.shutdown()
    names = [n for n in config.modelled if n != "e_above_hull"]
    table = Table(
        title=f"{len(confirmed.table)} front member(s): {config.oracle.name} → {spec.name}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("id", overflow="fold")
    table.add_column("formula", overflow="fold")
    for name in names:
        described = quantity(name)
        for who in (config.oracle.name, spec.name):
            table.add_column(f"{described.header}\n{who}\n{described.unit}", justify="right")
    table.add_column(f"hit\n{config.oracle.name}")
    table.add_column(f"hit\n{spec.name}")
    for _, row in confirmed.table.iterrows():
        values = [f"{row[c]:.4g}" for name in names for c in (name, f"{name}_confirmed")]
        table.add_row(
            row["id"],
            row["formula"],
            *values,
            "yes" if row["hit"] else "no",
            "yes" if row["hit_confirmed"] else "no" if row["ok_confirmed"] else "failed",
        )
    console.print(table)
    metrics = confirmed.metrics
    store = CampaignStore(args.directory)
    console.print(
        f"{metrics['confirmed']} confirmed, {metrics['failed']} failed; hits "
        f"{metrics['hits_before']} → {metrics['hits_after']} (novelty and E_hull stay the "
        f"campaign's); table: {confirmed.directory / 'table.csv'}; "
        f"{log_confirmation(config, store, confirmed)}",
        highlight=False,
        soft_wrap=True,
    )
    return 0
