"""Training runs: exact resume, MLflow logging, model files, configuration errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from matterloop.agent.cli import main
from matterloop.core.checkpoint import CheckpointError
from matterloop.core.config import load_yaml_config
from matterloop.core.errors import ConfigError
from matterloop.generator.training.config import TrainConfig
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.trainer import CHECKPOINT_NAME, MODEL_NAME, Trainer

TINY = {
    "model": {"network": {"hidden_dim": 16, "num_blocks": 1, "num_frequencies": 4}},
    "data": {"splits": ["train"], "max_structures": 48, "validation_fraction": 0.25},
    "optim": {"batch_size": 8, "max_steps": 6, "warmup_steps": 2, "ema_decay": 0.9},
    "validate_every": 3,
    "checkpoint_every": 2,
    "tracking": {"enabled": False},
}


@pytest.fixture
def tiny_config(tmp_path, data_dir, session_cache, monkeypatch) -> TrainConfig:
    monkeypatch.setenv("MATTERLOOP_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    return TrainConfig.model_validate({**TINY, "output_dir": str(tmp_path / "run")})


def with_steps(config: TrainConfig, steps: int, output_dir: Path) -> TrainConfig:
    return config.model_copy(
        update={
            "optim": config.optim.model_copy(update={"max_steps": steps}),
            "output_dir": output_dir,
        }
    )


def test_resumed_training_equals_uninterrupted_training(tiny_config, tmp_path):
    straight = Trainer(with_steps(tiny_config, 6, tmp_path / "straight"), progress=False)
    straight.run()
    Trainer(with_steps(tiny_config, 3, tmp_path / "split"), progress=False).run()
    resumed = Trainer(with_steps(tiny_config, 6, tmp_path / "split"), progress=False)
    assert resumed.resume() and resumed.step == 3
    resumed.run()
    assert resumed.step == straight.step == 6
    for name, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    for name, value in straight.ema.state_dict().items():
        assert torch.equal(value, resumed.ema.state_dict()[name]), name


def test_model_file_round_trip_and_priors(tiny_config):
    trainer = Trainer(tiny_config, progress=False)
    exported = trainer.run()
    loaded = TrainedGenerator.load(trainer.model_path)
    assert loaded.info["steps"] == 6 and loaded.info["train_structures"] == 36
    assert set(loaded.info["validation_loss"]) == {"total", "coordinates", "lattice", "atom_types"}
    for name, value in exported.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[name])
    density = loaded.model.config.lattice.density
    assert density == pytest.approx(loaded.model.config.network.density)
    assert 0.03 < density < 0.09, "lattice prior density comes from the training data"
    counts = loaded.draw_num_atoms(200, torch.Generator().manual_seed(0))
    assert counts.min() >= 1 and counts.max() <= 20
    small = loaded.draw_num_atoms(200, torch.Generator().manual_seed(0), max_atoms=4)
    assert small.min() >= 1 and small.max() <= 4
    assert all(loaded.num_atoms_probabilities[n] > 0 for n in small.tolist())
    with pytest.raises(ValueError, match="no training cell has 0 atoms or fewer"):
        loaded.draw_num_atoms(5, max_atoms=0)
    assert loaded.num_atoms_probabilities.sum() == pytest.approx(1.0)


def test_checkpoints_of_the_wrong_kind_or_corrupt_are_refused(tiny_config, tmp_path):
    trainer = Trainer(tiny_config, progress=False)
    trainer.run()
    with pytest.raises(CheckpointError, match="a 'generator-training' checkpoint, expected"):
        TrainedGenerator.load(trainer.output_dir / CHECKPOINT_NAME)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((trainer.output_dir / MODEL_NAME).read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        TrainedGenerator.load(corrupt)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        TrainedGenerator.load(tmp_path / "missing.pt")


def test_cli_train_logs_to_mlflow(tiny_config, tmp_path):
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    config = {**TINY, "output_dir": str(tmp_path / "cli-run")}
    config["tracking"] = {"tracking_uri": uri, "experiment": "tiny"}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["generator", "train", "--config", str(path)]) == 0
    assert (tmp_path / "cli-run" / MODEL_NAME).is_file()
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.data.params["optim.batch_size"] == "8"
    history = client.get_metric_history(run.info.run_id, "val/total")
    assert [m.step for m in history][-1] == 6
    assert all(m.value > 0 for m in history)


def test_bad_training_config_names_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"optim": {"lr": -1.0, "epochs": 3}}))
    with pytest.raises(ConfigError) as error:
        load_yaml_config(path, TrainConfig)
    message = str(error.value)
    assert "optim.lr: Input should be greater than 0" in message
    assert "optim.epochs: Extra inputs are not permitted" in message


def test_unknown_model_setting_is_an_error(tiny_config):
    config = tiny_config.model_copy(update={"model": {"network": {"width": 3}}})
    with pytest.raises(ConfigError, match=r"model\.network\.width: unknown setting"):
        Trainer(config, progress=False)


def test_a_run_can_start_from_a_model_file(tiny_config, tmp_path):
    first = Trainer(tiny_config, progress=False)
    first.run()
    start = TrainedGenerator.load(first.model_path)
    config = with_steps(tiny_config, 1, tmp_path / "finetune").model_copy(
        update={"init_from": first.model_path}
    )
    tuned = Trainer(config, progress=False)
    tuned.start_from(first.model_path)
    for name, value in start.model.state_dict().items():
        assert torch.equal(tuned.ema.module.state_dict()[name], value)
    exported = tuned.run()  # one step from there, not from random weights
    difference = max(
        (exported.model.state_dict()[k] - v).abs().max().item()
        for k, v in start.model.state_dict().items()
    )
    assert 0 < difference < 0.05

    wider = tiny_config.model_copy(
        update={"model": {"network": {"hidden_dim": 32, "num_blocks": 1, "num_frequencies": 4}}}
    )
    with pytest.raises(CheckpointError, match="is not this run's"):
        Trainer(wider, progress=False).start_from(first.model_path)
