"""Confirming a campaign's front with another oracle: ``matterloop confirm``.

The current Pareto front of a campaign (or its ``top`` best hits, by the first objective) is
relabeled by the confirming oracle (e.g. GPAW after a CHGNet campaign) as Ray tasks, on each
member's relaxed structure (a single point unless the oracle's settings relax). Results are
journaled as they return in ``<campaign>/confirm/<oracle>/results.jsonl`` with the members and the
oracle's settings in ``confirm.json``, so a killed run resumes without repeating a calculation; a
rerun with other settings or members is refused. The table puts each member's values before (the
campaign's oracle) and after (the confirming one) side by side. Novelty and E_hull stay the
campaign's: the confirming oracle's energies have no hull of their own here, which the table says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress

from matterloop.agent.campaign.config import CampaignConfig, check_quantity
from matterloop.agent.campaign.distributed import connect, evaluate_on_ray
from matterloop.agent.campaign.labels import campaign_hull, campaign_label_table, label_table
from matterloop.agent.campaign.pareto import front_table
from matterloop.agent.campaign.quantities import declare_oracle_properties
from matterloop.agent.campaign.store import CampaignStore, write_text_atomic
from matterloop.core.errors import ConfigError
from matterloop.core.results_file import ResultRecord, append_result, read_results_file
from matterloop.oracles.properties import declared_properties_for
from matterloop.oracles.registry import OracleSpec, resolve_oracle_class


@dataclass(frozen=True)
class ConfirmedFront:
    """Before and after: ``table`` has a row per member (``id``, ``formula``, for each oracle
    quantity ``<name>`` before and ``<name>_confirmed`` after, computed quantities, E_hull,
    novelty, ``hit`` and ``hit_confirmed``, ``ok_confirmed`` and ``failure_confirmed``);
    ``metrics`` the counts and mean absolute changes."""

    oracle: str
    table: pd.DataFrame
    metrics: dict[str, float]
    directory: Path


def members_of(table: pd.DataFrame, config: CampaignConfig, top: int | None) -> list[str]:
    """The ids to confirm: the front of the label ``table``, or its ``top`` best hits by the
    first objective.

    Raises:
        ConfigError: ``top`` is given and the campaign has no hit.
    """
    if top is None:
        return front_table(table, config.objectives)["id"].tolist()
    hits = table[table["hit"].astype(bool)]
    if hits.empty:
        raise ConfigError("the campaign has no hits to confirm; confirm its front (no --top)")
    first = config.objectives[0]
    ranked = hits.sort_values(first.name, ascending=first.direction == "minimize")
    return ranked["id"].head(top).tolist()


def check_confirming_oracle(config: CampaignConfig, spec: OracleSpec) -> None:
    """The confirming oracle exists, its settings are valid and it returns every oracle
    quantity of the campaign but E_hull (which stays the campaign's).

    Raises:
        ConfigError: naming what is wrong.
    """
    try:
        provided = declared_properties_for(resolve_oracle_class(spec.name), spec.settings)
        declare_oracle_properties(spec.name, provided)
        for name in config.modelled:
            if name != "e_above_hull":
                check_quantity(name, "the campaign's quantity", spec.name, provided)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"--oracle {spec.name}: {exc}") from exc


def confirm_front(
    directory: Path,
    config: CampaignConfig,
    spec: OracleSpec,
    top: int | None = None,
    console: Console | None = None,
) -> ConfirmedFront:
    """Relabel the members (:func:`members_of`) of the campaign in ``directory`` with ``spec``'s
    oracle, resuming an earlier run's journal; returns the side-by-side table.

    Raises:
        ConfigError: a confirming oracle that does not return the campaign's quantities,
            ``top`` without hits, or an earlier confirmation with this oracle that used other
            settings or members.
    """
    console = console or Console()
    check_confirming_oracle(config, spec)
    store = CampaignStore(directory)
    hull = campaign_hull(config)
    table = campaign_label_table(config, hull, store.evaluations(), store.screenings())
    members = members_of(table, config, top)
    out = directory / "confirm" / spec.name
    record = {"oracle": spec.model_dump(mode="json"), "members": members}
    settings_path = out / "confirm.json"
    if settings_path.is_file():
        earlier = json.loads(settings_path.read_text())
        if earlier != record:
            raise ConfigError(
                f"{out} holds a confirmation with other settings or members (the front may have "
                "changed since); remove that folder to confirm anew"
            )
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(settings_path, json.dumps(record, indent=2))
    journal_path = out / "results.jsonl"
    done, _ = read_results_file(journal_path)
    evaluations = {e.id: e for e in store.evaluations()}
    finished = {r.id for r in done}
    pending = [(i, evaluations[i].result.structure) for i in members if i not in finished]
    if pending:
        connect(config.ray)
        with (
            journal_path.open("a", encoding="utf-8") as journal,
            Progress(console=console, transient=True) as progress,
        ):
            task = progress.add_task(f"confirming with {spec.name}", total=len(pending))
            for identifier, result in evaluate_on_ray(pending, spec, config.ray):
                source = evaluations[identifier]
                append_result(
                    journal, ResultRecord(identifier, result, source.round, source.novelty)
                )
                progress.advance(task)
    confirmed, _ = read_results_file(journal_path)
    front = side_by_side(config, table, confirmed, members)
    front.to_csv(out / "table.csv", index=False)
    return ConfirmedFront(spec.name, front, confirmation_metrics(config, front), out)


def side_by_side(
    config: CampaignConfig,
    table: pd.DataFrame,
    confirmed: Sequence[ResultRecord],
    members: Sequence[str],
) -> pd.DataFrame:
    """The members' rows of the campaign's label ``table`` with the confirming oracle's values
    (``<name>_confirmed``), hit and failure beside them; E_hull and novelty the campaign's."""
    before = table.set_index("id").loc[list(members)]
    e_hull = dict(zip(before.index, before["e_above_hull"], strict=True))
    after = label_table(confirmed, config, None, e_hull).set_index("id").reindex(before.index)
    front = before.reset_index()
    oracle_names = [n for n in config.modelled if n != "e_above_hull"]
    for name in oracle_names:
        front[f"{name}_confirmed"] = after[name].to_numpy()
    front["ok_confirmed"] = after["ok"].fillna(False).astype(bool).to_numpy()
    front["failure_confirmed"] = after["failure"].fillna("not computed").to_numpy()
    front["hit_confirmed"] = after["hit"].fillna(False).astype(bool).to_numpy()
    return front


def confirmation_metrics(config: CampaignConfig, front: pd.DataFrame) -> dict[str, float]:
    """Members, confirmed and failed counts, hits before and after, and per oracle quantity the
    mean absolute change (its unit)."""
    metrics: dict[str, float] = {
        "members": len(front),
        "confirmed": int(front["ok_confirmed"].sum()),
        "failed": int((~front["ok_confirmed"]).sum()),
        "hits_before": int(front["hit"].sum()),
        "hits_after": int(front["hit_confirmed"].sum()),
    }
    for name in config.modelled:
        if name == "e_above_hull":
            continue
        change = (front[f"{name}_confirmed"] - front[name]).abs().dropna()
        if len(change):
            metrics[f"mean_abs_change.{name}"] = float(np.mean(change))
    return metrics


def log_confirmation(config: CampaignConfig, store: CampaignStore, result: ConfirmedFront) -> str:
    """Log the metrics (``confirm.<oracle>.*``) and table to the campaign's MLflow run; returns
    what was done, in words."""
    from matterloop.agent.campaign.tracking import campaign_tracking_uri
    from matterloop.core.tracking import bounded_http_retries, unreachable

    state = store.load_state()
    if not config.tracking.enabled or state.mlflow_run_id is None:
        return "not logged to MLflow (disabled, or the campaign has no run yet)"
    uri = campaign_tracking_uri(config)
    reason = unreachable(uri)
    if reason is not None:
        return f"not logged to MLflow: {uri} does not answer ({reason})"
    import mlflow

    mlflow.set_tracking_uri(uri)
    with bounded_http_retries(), mlflow.start_run(run_id=state.mlflow_run_id):
        metrics: dict[str, Any] = {
            f"confirm.{result.oracle}.{k}": v for k, v in result.metrics.items()
        }
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.log_artifact(str(result.directory / "table.csv"), f"confirm/{result.oracle}")
    return f"logged to MLflow run {state.mlflow_run_id} at {uri}"
