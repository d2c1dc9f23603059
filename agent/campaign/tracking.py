"""MLflow logging of a campaign: one run per campaign, resumed with the campaign.

Per round (MLflow step = round number): the numeric entries of the round's summary (hypervolume
of all results and of the novel ones, Pareto-front sizes, evaluations, failures, hits, results
known after relaxation, seconds per stage) and artifacts under ``round_NNNN/``: the Pareto plot,
the hypervolume against oracle calls so far, the front CSV, the label table as it was then
(E_hull and novelty per result), the picks' CIF files (with a screen, also the oracle's picks),
the surrogate checkpoint, and a new adapter model or reward fine-tuned generator if one was made.
The campaign's config is logged once, as params and as an artifact; the campaign's HTML report
(:mod:`matterloop.agent.campaign.report`) is rewritten as ``report.html`` whenever rounds are
logged.

Tracking never stops a campaign: when the tracking server cannot be reached (a quick ``/health``
probe first, then MLflow's own HTTP retries bounded by
:data:`~matterloop.core.tracking.HTTP_LIMITS`), the tracker warns once and the rounds not yet
logged stay pending in ``state.logged_rounds``, to be logged after a later round or when the
campaign resumes. A round's metrics go in one batch and are skipped when the run
already has them at that step, so no round is logged twice; artifacts are rewritten in place.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.pareto import hypervolume_figure, hypervolume_unit
from matterloop.agent.campaign.quantities import quantity
from matterloop.agent.campaign.report import render_report
from matterloop.agent.campaign.store import CampaignState, CampaignStore
from matterloop.core.tracking import (
    bounded_http_retries,
    flatten,
    local_tracking_uri,
    tracked_run,
    unreachable,
)

logger = logging.getLogger(__name__)

ROUND_METRIC = "hypervolume"
"""A metric every round logs: its steps are the rounds already in MLflow."""


def campaign_tracking_uri(config: CampaignConfig) -> str:
    """The config's URI, else ``$MLFLOW_TRACKING_URI``, else a store in the campaign directory."""
    return (
        config.tracking.tracking_uri
        or os.environ.get("MLFLOW_TRACKING_URI")
        or local_tracking_uri(config.campaign_dir / "mlruns")
    )


class CampaignTracker:
    """Logs completed rounds to the campaign's MLflow run (nothing when MLflow is disabled)."""

    def __init__(self, config: CampaignConfig, store: CampaignStore) -> None:
        self.config = config
        self.store = store
        self.failing = False

    @functools.cached_property
    def uri(self) -> str:
        """The tracking URI, resolved when first logged to (a local store is created then)."""
        return campaign_tracking_uri(self.config)

    def log_rounds(self, state: CampaignState) -> None:
        """Log every completed round not yet in MLflow, recording each in ``state`` as it is
        logged; when the tracking server fails, warn (once until it works again) and return."""
        if not self.config.tracking.enabled or state.logged_rounds >= state.next_round:
            return
        from mlflow.exceptions import MlflowException

        try:
            reason = unreachable(self.uri)
            if reason is None:
                with bounded_http_retries():
                    self.log_pending(state)
        except (MlflowException, OSError) as error:
            reason = f"{type(error).__name__}: {error}"
        if reason is None:
            self.failing = False
            return
        if not self.failing:
            logger.warning(
                "MLflow tracking at %s failed (%s); the campaign goes on, and rounds from %d on "
                "are logged once the server answers again",
                self.uri,
                reason[:300],
                state.logged_rounds,
            )
        self.failing = True

    def log_pending(self, state: CampaignState) -> None:
        """Log the rounds from ``state.logged_rounds`` to ``state.next_round - 1``."""
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
        experiment, name = self.config.tracking.experiment, self.config.name
        with tracked_run(experiment, name, self.uri, run_id=state.mlflow_run_id) as mlflow:
            run = mlflow.MlflowClient().get_run(mlflow.active_run().info.run_id)
            if state.mlflow_run_id != run.info.run_id:
                state.mlflow_run_id = run.info.run_id
                self.store.save_state(state)
            if not run.data.params:
                mlflow.log_artifact(str(self.store.config_path))
                params = flatten(self.config.model_dump(mode="json", exclude={"objectives"}))
                params.update({f"objective.{o.name}": o.direction for o in self.config.objectives})
                quantities = [*self.config.objectives, *self.config.constraints]
                params.update({f"unit.{q.name}": quantity(q.name).unit or "1" for q in quantities})
                mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
            history = mlflow.MlflowClient().get_metric_history(run.info.run_id, ROUND_METRIC)
            logged_steps = {metric.step for metric in history}
            for number in range(state.logged_rounds, state.next_round):
                self.log_round(mlflow, number, metrics=number not in logged_steps)
                state.logged_rounds = number + 1
                self.store.save_state(state)
            mlflow.log_text(render_report(self.config, self.store), "report.html")

    def log_round(self, mlflow: Any, number: int, metrics: bool = True) -> None:
        """Log round ``number``: its artifacts, and its metrics (one batch) if ``metrics``."""
        summary = next(s for s in self.store.summaries() if s.round == number)
        if metrics:
            mlflow.log_metrics(summary.metrics(), step=number)
        directory = self.store.round_dir(number)
        artifact_path = f"round_{number:04d}"
        for name in ("pareto.png", "front.csv", "labels.csv", "summary.json"):
            if (directory / name).is_file():
                mlflow.log_artifact(str(directory / name), artifact_path)
        for stage in ("picks", "oracle_picks"):  # oracle_picks: two fidelities
            if (directory / stage).is_dir():
                mlflow.log_artifacts(str(directory / stage), f"{artifact_path}/{stage}")
        until = [s for s in self.store.summaries() if s.round <= number]
        unit = hypervolume_unit(self.config.objectives)
        mlflow.log_figure(hypervolume_figure(until, unit), f"{artifact_path}/hypervolume.png")
        for key in ("surrogate_checkpoint", "adapter_model", "generator_model"):
            if getattr(summary, key):
                path = self.store.root / getattr(summary, key)
                log = mlflow.log_artifacts if Path(path).is_dir() else mlflow.log_artifact
                log(str(path), f"{artifact_path}/{key}")
