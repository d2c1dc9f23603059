"""MLflow logging of a campaign: one run per campaign, resumed with the campaign.

Per round (MLflow step = round number): the numeric entries of the round's summary (hypervolume,
Pareto-front size, evaluations, failures, hit rate, seconds per stage) and artifacts under
``round_NNNN/``: the Pareto plot, the hypervolume against oracle calls so far, the front CSV, the
picks' CIF files, the surrogate checkpoint and a new adapter model if one was fitted. The
campaign's config is logged once, as params and as an artifact; the campaign's HTML report
(:mod:`agent.campaign.report`) is rewritten as ``report.html`` whenever rounds are logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.campaign.config import CampaignConfig
from agent.campaign.pareto import hypervolume_figure, hypervolume_unit
from agent.campaign.store import CampaignState, CampaignStore
from agent.tracking import experiment_id, local_tracking_uri


def campaign_tracking_uri(config: CampaignConfig) -> str:
    """The config's URI, else ``$MLFLOW_TRACKING_URI``, else a store in the campaign directory."""
    return (
        config.mlflow.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or local_tracking_uri(config.campaign_dir / "mlruns")
    )


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class CampaignTracker:
    """Logs completed rounds to the campaign's MLflow run (nothing when MLflow is disabled)."""

    def __init__(self, config: CampaignConfig, store: CampaignStore) -> None:
        self.config = config
        self.store = store
        self.uri = campaign_tracking_uri(config)

    def log_rounds(self, state: CampaignState) -> None:
        """Log every completed round not yet in MLflow, then record that in ``state``."""
        if not self.config.mlflow.enabled or state.logged_rounds >= state.next_round:
            return
        import mlflow

        logging.getLogger("alembic").setLevel(logging.WARNING)
        mlflow.set_tracking_uri(self.uri)
        experiment = experiment_id(mlflow, self.config.mlflow.experiment, self.uri)
        with mlflow.start_run(
            run_id=state.mlflow_run_id, experiment_id=experiment, run_name=self.config.name
        ) as run:
            if state.mlflow_run_id is None:
                state.mlflow_run_id = run.info.run_id
                self.store.save_state(state)
                params = flatten(self.config.model_dump(mode="json", exclude={"objectives"}))
                params.update({f"objective.{o.name}": o.direction for o in self.config.objectives})
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
                mlflow.log_artifact(str(self.store.config_path))
            for number in range(state.logged_rounds, state.next_round):
                self.log_round(mlflow, number)
                state.logged_rounds = number + 1
                self.store.save_state(state)
            # imported here: the report imports the campaign loop, which imports this module
            from agent.campaign.report import render_report

            mlflow.log_text(render_report(self.config, self.store), "report.html")

    def log_round(self, mlflow: Any, number: int) -> None:
        summary = next(s for s in self.store.summaries() if s["round"] == number)
        metrics = {
            key: float(value)
            for key, value in flatten(summary).items()
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "round"
        }
        mlflow.log_metrics(metrics, step=number)
        directory = self.store.round_dir(number)
        artifact_path = f"round_{number:04d}"
        for name in ("pareto.png", "front.csv", "summary.json"):
            if (directory / name).is_file():
                mlflow.log_artifact(str(directory / name), artifact_path)
        if (directory / "picks").is_dir():
            mlflow.log_artifacts(str(directory / "picks"), f"{artifact_path}/picks")
        until = [s for s in self.store.summaries() if s["round"] <= number]
        unit = hypervolume_unit(self.config.objectives)
        mlflow.log_figure(hypervolume_figure(until, unit), f"{artifact_path}/hypervolume.png")
        for key in ("surrogate_checkpoint", "adapter_model"):
            if summary.get(key):
                path = self.store.root / summary[key]
                log = mlflow.log_artifacts if Path(path).is_dir() else mlflow.log_artifact
                log(str(path), f"{artifact_path}/{key}")
