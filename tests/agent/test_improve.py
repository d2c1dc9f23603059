"""``matterloop generator improve`` on a real local Ray instance with real CHGNet and a real
MLflow server: rounds of sample → relax → reward → fine-tune, resumed without repeating an oracle
call, and its bad settings."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from matterloop.agent.cli import main
from matterloop.agent.improve import GeneratorImprovement, ImproveSettings
from matterloop.core.result import OracleResult, Provenance
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator

ORACLE_SETTINGS = """\
threads: 1
relax: {fmax: 0.2, max_steps: 10}
robustness: {isolation: inline}
"""


def improve_args(tmp_path, out, rounds: int, mlflow_server: str, samples: int = 4) -> list[str]:
    settings = tmp_path / "chgnet.yaml"
    settings.write_text(ORACLE_SETTINGS)
    return [
        "generator", "improve",
        "--oracle", "chgnet",
        "--oracle-settings", str(settings),
        "--rounds", str(rounds),
        "--samples", str(samples),
        "--sampling-steps", "20",
        "--finetune-steps", "2",
        "--near-e-hull", "100",  # every novel relaxed sample is rewarded: something to learn
        "--tracking-uri", mlflow_server,
        "--out", str(out),
    ]  # fmt: skip


def test_rounds_learn_resume_and_are_tracked(tmp_path, mlflow_server, capsys):
    out = tmp_path / "improve"
    assert main(improve_args(tmp_path, out, 1, mlflow_server)) == 0
    first = (out / "round_000" / "results.jsonl").read_text()
    assert len(first.splitlines()) == 4
    # one more round: round 0 is read back, not sampled or relaxed again
    assert main(improve_args(tmp_path, out, 2, mlflow_server)) == 0
    printed = capsys.readouterr().out
    assert "resuming at round 1" in printed
    assert (out / "round_000" / "results.jsonl").read_text() == first
    assert len((out / "round_001" / "results.jsonl").read_text().splitlines()) == 4
    summaries = [json.loads((out / f"round_00{k}" / "summary.json").read_text()) for k in (0, 1)]
    assert summaries[1]["model"] == str(out / "round_000" / "model.pt")
    for summary in summaries:
        assert summary["num_structures"] == 4
        assert 0 <= summary["sun_fraction"] <= 1 and summary["rewarded"] >= 1
        assert summary["held_out_loss_after"] > 0 and summary["rewarded_loss_after"] > 0
    learned = TrainedGenerator.load(out / "model.pt")
    assert len(learned.info["reward_finetuning"]) == 2
    assert (out / "model.pt").read_bytes() == (out / "round_001" / "model.pt").read_bytes()
    assert (out / "model.pt").read_bytes() != default_checkpoint().read_bytes()
    assert "S.U.N." in printed and "generator improvement" in printed

    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("generator-improve").experiment_id
    (run,) = client.search_runs([experiment])
    for metric in ("sun", "rmsd", "p1", "novel", "mean_e_hull", "oracle_cpu_s"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, metric)] == [0, 1]

    # a resume with other settings is refused, naming them
    assert main(improve_args(tmp_path, out, 2, mlflow_server, samples=5)) == 2
    assert "other settings (samples)" in capsys.readouterr().err


def test_bad_settings_are_clear_errors(tmp_path, capsys):
    with pytest.raises(ValidationError, match="greater than 0"):
        ImproveSettings(oracle="chgnet", out=tmp_path, rounds=-1)
    with pytest.raises(ValidationError, match="an oracle is needed"):
        ImproveSettings(oracle="", out=tmp_path)
    with pytest.raises(ValidationError, match="unknown oracle 'vasp'"):
        ImproveSettings(oracle="vasp", out=tmp_path)
    with pytest.raises(ValidationError, match=r"bulk_modulus \[GPa\] is not provided by oracle"):
        ImproveSettings(oracle="chgnet", out=tmp_path, require=[{"name": "bulk_modulus", "min": 1}])
    with pytest.raises(ValidationError, match="has no shipped hull"):
        ImproveSettings(oracle="sevennet", out=tmp_path)
    for args, message in (
        (["--oracle", "chgnet", "--rounds", "-2"], "must be a positive integer, got -2"),
        ([], "the following arguments are required: --oracle"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["generator", "improve", *args, "--out", str(tmp_path)])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    args = ["generator", "improve", "--oracle", "chgnet", "--require", "magnetic_density~1"]
    assert main([*args, "--out", str(tmp_path)]) == 2
    assert "expected NAME>VALUE" in capsys.readouterr().err


def test_rewards_refuse_repeats_of_earlier_rewards_and_apply_requirements(tmp_path):
    """A S.U.N. structure that matches one rewarded in an earlier round is memorised, not
    found: it earns nothing and is counted; a hit that misses a required bound is a near hit."""
    structure = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    other = Structure(Lattice.cubic(4.2), ["Ni", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    settings = ImproveSettings(
        oracle="chgnet", out=tmp_path, require=[{"name": "magnetic_density", "min": 0.05}]
    )
    improvement = GeneratorImprovement(settings)
    improvement.round_dir(0).mkdir(parents=True)
    improvement.write_rewarded(0, ["a"], [1.0], [structure])

    def result(cell: Structure, magnetic_density: float) -> OracleResult:
        return OracleResult(
            Provenance("chgnet", "test"), cell, cell, magnetic_density=magnetic_density
        )

    row = {"structurally_valid": True, "sun": True, "novel": True, "unique": True}
    rows = {"x": row | {"e_above_hull": 0.0}, "y": row | {"e_above_hull": 0.05}}
    results = {"x": result(structure, 0.2), "y": result(other, 0.01)}
    rewards, repeats = improvement.rewards(1, ["x", "y"], rows, results)
    assert repeats == 1
    assert rewards == [0.0, settings.near_hit_weight]  # a repeat; a hit short of its bound
    results["y"] = result(other, 0.1)
    assert improvement.rewards(1, ["y"], rows, results) == ([settings.hit_weight], 0)
