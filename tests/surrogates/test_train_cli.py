"""``train(config)`` and ``evaluate`` through the ``matterloop surrogate`` commands."""

import argparse
import json

import mlflow
import pandas as pd
import pytest
import yaml

from matterloop.agent.cli import surrogate as surrogate_command
from matterloop.surrogates.config import DataConfig, load_config
from matterloop.surrogates.surrogate import Surrogate
from matterloop.surrogates.train import load_training_and_calibration

ROWS = {"train": 70, "val": 50}


@pytest.fixture(scope="module")
def small_mp20(data_dir, tmp_path_factory):
    """A data directory with the first rows of MP-20's train and val splits."""
    root = tmp_path_factory.mktemp("data")
    (root / "mp_20" / "structures").mkdir(parents=True)
    for split, rows in ROWS.items():
        name = f"mp_20/structures/{split}.csv.gz"
        pd.read_csv(data_dir / name, nrows=rows).to_csv(root / name, index=False)
    return root


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    surrogate_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_train_then_evaluate(small_mp20, tmp_path, monkeypatch, session_cache, capsys):
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = {
        "name": "tiny",
        "output_dir": str(tmp_path / "checkpoint"),
        "data": {
            "data_dir": str(small_mp20),
            "targets": ["formation_energy_per_atom", "band_gap"],
        },
        "network": {"units": 8, "nblocks": 1},
        "training": {"epochs": 1, "batch_size": 16},
        "head": {"fit_max_iter": 50},
        "tracking": {"tracking_uri": uri, "experiment": "test-surrogates"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert load_config(path).data.targets == ("formation_energy_per_atom", "band_gap")

    assert run("surrogate", "train", "--config", str(path)) == 0
    assert "GP heads fitted" in capsys.readouterr().out
    checkpoint = tmp_path / "checkpoint"
    assert Surrogate.load(checkpoint).targets == ["formation_energy_per_atom", "band_gap"]

    report = tmp_path / "metrics.json"
    argv = ["surrogate", "evaluate", str(checkpoint), "--split", "val", "--data-dir"]
    argv += [str(small_mp20), "--tracking-uri", uri, "--experiment", "test-surrogates"]
    argv += ["--json", str(report)]
    assert run(*argv) == 0
    metrics = json.loads(report.read_text())
    assert metrics["formation_energy_per_atom"]["count"] == ROWS["val"]
    assert 0 <= metrics["band_gap"]["coverage"] <= 1
    assert metrics["predictions_per_second"] > 0

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["test-surrogates"], output_format="list")
    assert len(runs) == 2
    logged = {key for run_ in runs for key in run_.data.metrics}
    assert {"refit_seconds", "scale_band_gap"} <= logged
    assert "val_band_gap_coverage" in logged


def test_calibration_structures_are_never_trained_on(small_mp20):
    data = DataConfig(
        data_dir=small_mp20,
        targets=["formation_energy_per_atom"],
        train_splits=["train", "val"],
        calibration_split="val",
        max_calibration=20,
    )
    training, calibration = load_training_and_calibration(data, seed=3)
    assert len(calibration.rows) == 20
    assert {split for split, _ in calibration.rows} == {"val"}
    assert not set(training.rows) & set(calibration.rows)
    assert len(training.rows) == ROWS["train"] + ROWS["val"] - 20
    val = pd.read_csv(small_mp20 / "mp_20/structures/val.csv.gz")
    expected = val["formation_energy_per_atom"].to_numpy()[[i for _, i in calibration.rows]]
    assert calibration.labels[:, 0].tolist() == pytest.approx(expected.tolist())
    training_again, calibration_again = load_training_and_calibration(data, seed=3)
    assert calibration_again.rows == calibration.rows and training_again.rows == training.rows


def test_config_errors_name_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "output_dir": "o", "data": {"targets": []}}))
    with pytest.raises(ValueError, match=r"data\.targets"):
        load_config(path)
