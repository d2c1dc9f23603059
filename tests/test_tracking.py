"""Local MLflow tracking: runs resume, and a run id from another store starts a new run."""

from __future__ import annotations

import logging
from pathlib import Path

from matterloop.core.tracking import local_tracking_uri, tracked_run


def test_a_run_resumes_by_id(tmp_path: Path) -> None:
    uri = local_tracking_uri(tmp_path / "store")
    with tracked_run("exp", "first", tracking_uri=uri, params={"a": 1}) as mlflow:
        run_id = mlflow.active_run().info.run_id
        mlflow.log_metric("loss", 1.0, step=0)
    with tracked_run("exp", "first", tracking_uri=uri, params={"a": 1}, run_id=run_id) as mlflow:
        assert mlflow.active_run().info.run_id == run_id
        mlflow.log_metric("loss", 0.5, step=1)
    history = mlflow.MlflowClient(uri).get_metric_history(run_id, "loss")
    assert [metric.value for metric in history] == [1.0, 0.5]


def test_a_run_id_from_another_store_starts_a_new_run(tmp_path: Path, caplog) -> None:
    first = local_tracking_uri(tmp_path / "first")
    with tracked_run("exp", "job", tracking_uri=first) as mlflow:
        old_id = mlflow.active_run().info.run_id
    second = local_tracking_uri(tmp_path / "second")
    with caplog.at_level(logging.WARNING, logger="matterloop.core.tracking"):
        with tracked_run(
            "exp", "job", tracking_uri=second, params={"a": 1}, run_id=old_id
        ) as mlflow:
            new_id = mlflow.active_run().info.run_id
            mlflow.log_metric("loss", 0.5)
    assert new_id != old_id
    assert f"MLflow run {old_id} is not in {second}" in caplog.text
    run = mlflow.MlflowClient(second).get_run(new_id)
    assert run.data.params == {"a": "1"} and run.data.metrics == {"loss": 0.5}
