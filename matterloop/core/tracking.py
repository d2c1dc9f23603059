"""Experiment tracking with MLflow.

By default runs go to a local store: an SQLite database and an artifact folder under ``mlruns/`` in
the working directory (MLflow's plain-file store is deprecated). Set ``tracking_uri`` (or the
environment variable ``MLFLOW_TRACKING_URI``) to use a tracking server, e.g.
``http://127.0.0.1:5000``. Browse a local store with ``mlflow ui --backend-store-uri
sqlite:///mlruns/mlflow.db``.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matterloop.core.config import StrictModel

LOCAL_STORE = Path("mlruns")
logger = logging.getLogger(__name__)

HTTP_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
"""MLflow's HTTP settings while a campaign logs (MLflow's defaults retry 7 times with doubling
back-off, minutes of waiting for a server that is down); a variable already set wins."""

PROBE_TIMEOUT_S = 5.0
"""How long the ``/health`` probe of a tracking server may take, s."""


class TrackingSettings(StrictModel):
    """The ``tracking`` section of every config: ``tracking_uri`` None means
    ``$MLFLOW_TRACKING_URI``, else a local store (a campaign's in its directory, others' in
    ``mlruns/``); ``experiment`` is the MLflow experiment, ``run_name`` the run's name (None: the
    job's own)."""

    enabled: bool = True
    tracking_uri: str | None = None
    experiment: str = "matterloop"
    run_name: str | None = None


def local_tracking_uri(directory: Path = LOCAL_STORE) -> str:
    """The SQLite tracking URI of a local store in ``directory`` (created if needed)."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the local store."""
    return tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or local_tracking_uri()


def experiment_id(mlflow, name: str, tracking_uri: str) -> str:
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if tracking_uri.startswith("sqlite:///"):
        store = Path(tracking_uri.removeprefix("sqlite:///")).parent
        artifact_location = (store / "artifacts").as_uri()
    return mlflow.create_experiment(name, artifact_location=artifact_location)


def run_exists(mlflow, run_id: str) -> bool:
    """Whether the current tracking store holds the run ``run_id`` (other errors propagate)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        mlflow.get_run(run_id)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return False
        raise
    return True


@contextmanager
def tracked_run(
    experiment: str,
    run_name: str | None = None,
    tracking_uri: str | None = None,
    params: Mapping[str, object] | None = None,
    run_id: str | None = None,
) -> Iterator[object]:
    """An active MLflow run (resumed when ``run_id`` is given), with ``params`` logged once, when
    the run is created (MLflow refuses to change a logged parameter).

    A ``run_id`` that this tracking store does not hold (a job resumed against another store)
    starts a new run, with a warning, rather than failing.

    Yields the ``mlflow`` module, so callers log with ``mlflow.log_metrics`` and friends.
    """
    import mlflow

    logging.getLogger("alembic").setLevel(logging.WARNING)
    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    if run_id is not None and not run_exists(mlflow, run_id):
        logger.warning("MLflow run %s is not in %s; logging to a new run", run_id, uri)
        run_id = None
    with mlflow.start_run(
        run_id=run_id, experiment_id=experiment_id(mlflow, experiment, uri), run_name=run_name
    ):
        if params and run_id is None:
            mlflow.log_params(dict(params))
        yield mlflow


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@contextmanager
def bounded_http_retries() -> Iterator[None]:
    """:data:`HTTP_LIMITS` in the environment (where not set) for the duration of the block."""
    added = {key: value for key, value in HTTP_LIMITS.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def unreachable(uri: str) -> str | None:
    """Why the tracking server at ``uri`` does not answer its ``/health`` probe, or None when it
    does (and for local stores, which need no server)."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S):
            return None
    except OSError as error:
        return str(getattr(error, "reason", error))
