"""Campaigns end to end on a real local Ray instance, with the shipped generator, real CHGNet
and a real MLflow server: two rounds, resume after SIGKILL of the driver, and a plug-in oracle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.cli import main
from matterloop.core.writer_lock import holder_of
from matterloop.generator.conditioning import AdaptedGenerator
from matterloop.generator.evaluation import Novelty
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.surrogates.surrogate import Surrogate
from tests.agent.conftest import REPO, campaign_config, holder, kill, write_config

NOVELTIES = {novelty.value for novelty in Novelty}
LEARNING = {"steps": 3, "batch_size": 8, "near_e_hull": 100.0, "min_rewarded": 1}
"""Reward fine-tuning small enough for a test; every novel result is rewarded."""


def same_weights(first: torch.nn.Module, second: torch.nn.Module) -> bool:
    pairs = zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    return all(torch.equal(a, b) for a, b in pairs)


def picks_of(store: CampaignStore) -> list[str]:
    return [p.id for number in range(len(store.summaries())) for p in store.picks(number)]


def test_campaign_end_to_end(tmp_path, mlflow_server, capsys, monkeypatch):
    directory = tmp_path / "campaign"
    config = campaign_config(
        directory,
        acquisition={"q": 4, "initial_labels": 4},
        adapters={
            "every": 2,
            "properties": ["magnetic_density", "hhi_production"],
            "steps": 10,
            "min_labels": 4,
            "prior": "mp_20",
            "prior_steps": 5,
            "prior_structures": 32,
        },
        generator={
            "conditions": {"magnetic_density": "beyond_front", "hhi_production": "<3000"},
            "learn_from_labels": LEARNING | {"every": 2},
        },
        tracking={"enabled": True, "tracking_uri": mlflow_server, "experiment": "e2e"},
    )
    assert main(["run", str(write_config(tmp_path / "c.yaml", config))]) == 0
    printed = capsys.readouterr().out
    assert "Pareto front" in printed and f"browse with\n  {mlflow_server}" in printed
    assert f"matterloop report {directory}" in printed

    store = CampaignStore(directory)
    summaries = store.summaries()
    assert [s.round for s in summaries] == [0, 1, 2]
    evaluations = store.evaluations()
    for summary in summaries:  # random picks until 4 labels exist, then BoTorch
        labels = sum(e.result.ok for e in evaluations if e.round < summary.round)
        assert summary.method == ("qLogNEHVI" if labels >= 4 else "initial design")
    assert summaries[-1].method == "qLogNEHVI"
    ids = [e.id for e in evaluations]
    assert len(ids) == len(set(ids)) == sum(s.picks for s in summaries) > 0
    assert sorted(ids) == sorted(picks_of(store))
    assert all(e.result.provenance.oracle == "chgnet" for e in evaluations)
    # each result carries the novelty of its relaxed structure; hits and the novel front count
    # only novel results, and every round keeps its label table (E_hull as it was then)
    for evaluation in evaluations:
        assert evaluation.novelty in (NOVELTIES if evaluation.result.ok else {""})
    assert summaries[-1].hypervolume >= summaries[0].hypervolume >= 0
    last = summaries[-1]
    assert last.novel_results + last.known_results == sum(e.result.ok for e in evaluations)
    assert 0 <= last.hits <= last.novel_results
    assert 0 <= last.novel_hypervolume <= last.hypervolume
    assert (store.round_dir(2) / "labels.csv").is_file()
    assert (directory / "models" / "surrogate" / "surrogate.json").is_file()
    # adapters fitted on MP-20 labels steer round 0 already; the refit after round 1 continues
    # from them on the campaign's labels mixed with as many MP-20 structures, and steers round 2
    # toward targets past the front
    prior = AdaptedGenerator.load(directory / "models" / "adapters_prior.pt")
    assert prior.info["structures"] == 32
    assert sorted(prior.model.specs) == ["hhi_production", "magnetic_density"]
    first = store.round_details(0)
    assert first["generator"].endswith("adapters_prior.pt")
    assert first["targets"] == {"hhi_production": "<3000"}  # no feasible label to pass yet
    assert [s.adapter_model for s in summaries] == [None, "models/adapters_r0001.pt", None]
    refit = AdaptedGenerator.load(directory / "models" / "adapters_r0001.pt")
    labeled = sum(e.result.ok for e in evaluations if e.round <= 1)
    assert refit.info["structures"] == 2 * labeled
    assert refit.info["steps"] == 5 + 10
    details = store.round_details(2)
    assert details["generator"].endswith("adapters_r0001.pt")
    assert details["targets"]["hhi_production"] == "<3000"
    # the generator learned from the rewarded results after round 1, before the adapter refit,
    # which trained the adapters on the new base network
    assert [s.generator_model for s in summaries] == [None, "models/generator_r0001.pt", None]
    learned = AdaptedGenerator.load(directory / "models" / "generator_r0001.pt")
    assert len(learned.base.info["reward_finetuning"]) == 1
    assert same_weights(learned.base.model, refit.base.model)
    assert not same_weights(learned.base.model, prior.base.model)

    client = MlflowClient(mlflow_server)
    (run,) = client.search_runs([client.get_experiment_by_name("e2e").experiment_id])
    assert run.info.run_id == json.loads(store.state_path.read_text())["mlflow_run_id"]
    for metric in ("hypervolume", "novel_hypervolume", "hits"):
        history = client.get_metric_history(run.info.run_id, metric)
        assert [m.step for m in history] == [0, 1, 2]
    assert run.data.params["acquisition.q"] == "4"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "round_0002")}
    expected = {"pareto.png", "front.csv", "labels.csv", "picks", "summary.json"}
    expected.add("surrogate_checkpoint")
    assert {f"round_0002/{name}" for name in expected} <= artifacts
    adapters = {a.path for a in client.list_artifacts(run.info.run_id, "round_0001")}
    assert {"round_0001/adapter_model", "round_0001/generator_model"} <= adapters

    monkeypatch.setenv("COLUMNS", "80")  # a default terminal: whole header words, no "…"
    assert main(["status", str(directory)]) == 0
    printed = capsys.readouterr().out
    assert "3 round(s) complete" in printed and "…" not in printed
    header = next(line for line in printed.splitlines() if "method" in line).split()
    assert header[:8] == ["round", "method", "gen", "kept", "eval", "fail", "hits", "known"]
    assert header[-3:] == ["HV", "front", "s"] and "novel" in printed
    assert main(["pareto", str(directory), "--out", str(tmp_path / "front.png")]) == 0
    printed = capsys.readouterr().out
    assert "novel after relaxation:" in printed and "…" not in printed
    table = printed.split("novelty after relaxation:")[0]
    assert all(len(line) <= 80 for line in table.splitlines())
    assert all(word in table for word in ("mag. density", "µB/Å³", "HHI", "E_hull", "novelty"))
    assert (tmp_path / "front.png").read_bytes()[:4] == b"\x89PNG"


def test_surrogate_prior_lets_botorch_pick_from_round_zero(tmp_path, capsys):
    directory = tmp_path / "campaign"
    config = campaign_config(
        directory, surrogate={"prior": "mp_20", "prior_labels": 48}, budget={"rounds": 2}
    )
    assert main(["run", str(write_config(tmp_path / "c.yaml", config))]) == 0
    printed = capsys.readouterr().out
    prior_rows = int(printed.split("surrogate: ")[1].split()[0])
    assert 40 <= prior_rows <= 48  # MP-20 structures with a magnetic density or E_hull label

    store = CampaignStore(directory)
    # without the prior, 4 labels per quantity would be needed first (an initial design)
    assert [s.method for s in store.summaries()] == ["qLogNEHVI", "qLogNEHVI"]
    for pick in store.picks(0):
        assert set(pick.predicted_mean) == {"magnetic_density", "e_above_hull"}
        assert 0 <= pick.predicted_std["magnetic_density"] < 1  # µB/Å³, learned from MP-20
    surrogate = Surrogate.load(directory / "models" / "surrogate")
    evaluations = store.evaluations()
    assert len(surrogate.labels) == prior_rows + len(evaluations)
    magnetic, e_hull = surrogate.labels[:prior_rows].T
    assert (~magnetic.isnan()).sum() >= 0.9 * prior_rows and (magnetic >= 0).all()
    assert (e_hull[~e_hull.isnan()] < 0.08).all()  # MP-20 holds near-stable crystals only


def run_driver(config_path, log_path) -> subprocess.Popen:
    """``matterloop run`` in its own session (so that what it leaves behind can be cleaned up)."""
    return subprocess.Popen(
        [sys.executable, "-m", "matterloop.agent.cli", "run", str(config_path)],
        cwd=REPO,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_resume_after_sigkill_repeats_and_loses_nothing(tmp_path):
    """The campaign learns from its labels every round: the driver is killed in round 1, after
    round 0's generator checkpoint was written, and the resumed run continues from it."""
    directory = tmp_path / "campaign"
    config = campaign_config(directory, generator={"learn_from_labels": LEARNING | {"every": 1}})
    config_path = write_config(tmp_path / "c.yaml", config)
    results = directory / "results.jsonl"
    driver = run_driver(config_path, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 600
        # A second run of the campaign while the first holds it stops at once, naming it.
        lock = directory / ".writer.lock"
        while holder_of(lock).get("pid") != driver.pid:
            assert driver.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the first run never took the campaign's lock"
            time.sleep(0.2)
        second = run_driver(config_path, tmp_path / "second-writer.log")
        assert second.wait(timeout=300) == 2
        refusal = (tmp_path / "second-writer.log").read_text()
        assert f"is being written by PID {driver.pid} on" in refusal
        assert driver.poll() is None
        # Kill the driver in the middle of round 1: after its first result is on disk.
        while not (results.exists() and len(results.read_text().splitlines()) >= 3):
            assert driver.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "the campaign made no progress"
            time.sleep(0.2)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        # What a dead driver leaves behind (its local Ray processes) goes too, as with a crash.
        try:
            os.killpg(driver.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = results.read_text().splitlines()
    assert len(before) >= 3

    resumed = run_driver(config_path, tmp_path / "second.log")
    assert resumed.wait(timeout=600) == 0, (tmp_path / "second.log").read_text()
    log = (tmp_path / "second.log").read_text()
    assert "resuming test-campaign at round" in log

    store = CampaignStore(directory)
    after = results.read_text().splitlines()
    assert after[: len(before)] == before  # nothing recorded before the kill was lost or changed
    ids = [json.loads(line)["id"] for line in after]
    assert len(ids) == len(set(ids))  # no oracle calculation repeated
    assert sorted(ids) == sorted(picks_of(store))  # every pick evaluated: calls = unique picks
    summaries = store.summaries()
    assert [s.round for s in summaries] == [0, 1, 2]
    learned = [f"models/generator_r000{k}.pt" for k in range(3)]
    assert [s.generator_model for s in summaries] == learned
    for number in (1, 2):  # round 1 chose its picks before the kill, round 2 after the resume
        assert store.round_details(number)["generator"].endswith(learned[number - 1])
    final = TrainedGenerator.load(directory / learned[-1])
    assert len(final.info["reward_finetuning"]) == 3  # each round continued the last


@pytest.mark.usefixtures("installed_plugin")
def test_a_plugin_property_is_optimised_and_shown_with_its_unit(
    tmp_path, mlflow_server, capsys, monkeypatch
):
    """The example plug-in declares bulk_modulus (GPa); a campaign maximises it: the surrogate's
    GP head and the adapters learn it, and the tables, the report and MLflow show its unit."""
    directory = tmp_path / "campaign"
    config = yaml.safe_load((REPO / "examples" / "emt_bulk_modulus.yaml").read_text())
    config |= {
        "directory": str(directory),
        "generator": {**config["generator"], "num_candidates": 12, "batch_size": 12, "steps": 20},
        "adapters": {**config["adapters"], "steps": 3, "min_labels": 2},
        "filters": {**config["filters"], "novelty_reference": None},
        "budget": {"rounds": 2},
        "tracking": {"tracking_uri": mlflow_server, "experiment": "plugin-property"},
    }
    config["oracle"]["settings"]["robustness"] = {"isolation": "inline"}
    assert main(["run", str(write_config(tmp_path / "c.yaml", config))]) == 0
    store = CampaignStore(directory)
    evaluations = store.evaluations()
    labeled = [e.result for e in evaluations if e.result.ok]
    assert len(labeled) >= 4
    assert all(r.properties["bulk_modulus"] > 0 for r in labeled)
    for evaluation in evaluations:  # a failed EOS fit is a failure with its reason
        failure = evaluation.result.failure
        assert failure is None or failure.kind.value in {"invalid_property", "unsupported_element"}
    summaries = store.summaries()
    assert summaries[-1].method == "qLogNEHVI"  # the GP head fitted bulk_modulus labels
    adapted = AdaptedGenerator.load(directory / summaries[0].adapter_model)
    assert list(adapted.model.specs) == ["bulk_modulus"]

    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["pareto", str(directory), "--out", str(tmp_path / "front.png")]) == 0
    table = capsys.readouterr().out.split("novel after relaxation:")[0]
    assert "bulk modulus" in table and "GPa" in table
    assert main(["report", str(directory)]) == 0
    report = (directory / "report.html").read_text()
    assert "maximize bulk_modulus [GPa]" in report
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("plugin-property").experiment_id
    (run,) = client.search_runs([experiment])
    assert run.data.params["unit.bulk_modulus"] == "GPa"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "hypervolume")] == [0, 1]


def test_a_quantity_the_oracle_does_not_provide_is_a_config_error_listing_what_it_does():
    config = campaign_config(
        Path("unused"),
        objectives=[{"name": "bulk_modulus", "direction": "maximize", "reference": 0.0}],
    )
    with pytest.raises(ValidationError) as error:
        CampaignConfig.model_validate(config)
    message = " ".join(str(error.value).split())
    assert "objective: bulk_modulus [GPa] is not provided by oracle 'chgnet'" in message
    assert "(it provides no properties of its own)" in message
    assert "return it: chgnet (bulk_modulus: true), sevennet (bulk_modulus: true)" in message
    config["oracle"] = {"name": "chgnet", "settings": {"bulk_modulus": True}}
    assert CampaignConfig.model_validate(config).modelled[0] == "bulk_modulus"


@pytest.mark.usefixtures("installed_plugin")
def test_campaign_with_a_plugin_oracle(tmp_path, capsys):
    directory = tmp_path / "campaign"
    config = campaign_config(
        directory,
        oracle={"name": "example-emt", "settings": {"robustness": {"isolation": "inline"}}},
        objectives=[{"name": "energy_per_atom", "direction": "minimize", "reference": 10.0}],
        constraints=[],
        budget={"rounds": 1},
    )
    assert main(["run", str(write_config(tmp_path / "c.yaml", config))]) == 0
    evaluations = CampaignStore(directory).evaluations()
    assert evaluations
    assert {e.result.provenance.oracle for e in evaluations} == {"example-emt"}
    for evaluation in evaluations:  # EMT covers a few metals only; the rest fail cleanly
        assert evaluation.result.ok or evaluation.result.failure.kind.value == "unsupported_element"

    # Two writers before stores were locked: every result recorded twice, the round unfinished.
    # The campaign resumes, keeps the first result of each id and finishes its budget.
    results = directory / "results.jsonl"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines + lines) + "\n")
    state = json.loads((directory / "state.json").read_text())
    (directory / "state.json").write_text(json.dumps({**state, "next_round": 0}))
    capsys.readouterr()
    reader_while_written = holder(directory, "directory")  # readers take no lock
    try:
        assert main(["status", str(directory)]) == 0
        assert main(["pareto", str(directory), "--out", str(tmp_path / "front.png")]) == 0
    finally:
        kill(reader_while_written)
    assert main(["run", str(tmp_path / "c.yaml"), "--rounds", "2"]) == 0
    assert f"{len(lines)} later result(s) of ids already recorded" in capsys.readouterr().out
    store = CampaignStore(directory)
    ids = [e.id for e in store.evaluations()]
    assert len(ids) == len(set(ids)) and sorted(ids) == sorted(picks_of(store))
    assert [json.loads(line)["id"] for line in results.read_text().splitlines()] == ids
    assert len((directory / "results.duplicates.jsonl").read_text().splitlines()) == len(lines)
    assert [s.round for s in store.summaries()] == [0, 1]
