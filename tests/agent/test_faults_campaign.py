"""A campaign under injected faults finishes its budget with nothing lost or repeated.

One campaign of 4 rounds × 4 picks runs as ``matterloop run`` processes on a real local Ray
instance and logs to a real MLflow server on 127.0.0.1. The oracle's calculator
(:class:`tests.agent.doubles.FaultyLennardJones`) raises, hangs past the 5 s time limit, returns
NaN energies, ends its process once or every time, and SIGKILLs its Ray worker once; the driver is
killed twice (while round 1 is being evaluated, and while round 3 is being generated); the MLflow
server is stopped during round 2 and started again (same port, same stores) before the campaign
resumes. Afterwards every pick has exactly one result, every calculation is accounted for, the
failures have the right kinds, the Pareto front is the one recomputed from the results, and MLflow
holds every round exactly once.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.agent.campaign.config import load_campaign_config
from matterloop.agent.campaign.labels import label_table
from matterloop.agent.campaign.pareto import front_mask
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.campaign.summary import RoundSummary
from matterloop.agent.campaign.tracking import CampaignTracker
from matterloop.agent.cli import main
from tests.agent.conftest import (
    Driver,
    MlflowServer,
    campaign_config,
    faults_config,
    free_port,
    write_config,
)
from tests.agent.doubles import FAULTS, FaultPlan, structure_key

ROUNDS, PICKS = 4, 4
PLAN = ["raise", "hang", "ok", "nan", "exit_once", "ok", "exit", "kill_parent_once"] + ["ok"] * 8
"""Faults of the first 16 structures to reach the calculator, in order of arrival."""

EXPECTED = {  # fault -> (failure kind or None when labeled, oracle attempts in the final task)
    "raise": ("calculator_error", 2),  # retried once by the oracle (robustness.max_retries)
    "hang": ("timeout", 1),
    "nan": ("exploded", 1),
    "exit": ("worker_crashed", 2),
    "exit_once": (None, 2),
    "kill_parent_once": (None, 1),  # the Ray task is retried in a new worker
    "ok": (None, 1),
}
WARNING = "MLflow tracking at"


def summary(number: int) -> RoundSummary:
    """A round's summary as far as tracking reads it."""
    return RoundSummary(round=number, hypervolume=0.5 * number, total_oracle_calls=2 * number + 2)


def tracked_campaign(tmp_path: Path, uri: str, experiment: str, rounds: int = 3):
    """A tracker and store of a campaign whose first ``rounds`` rounds are complete (summaries on
    disk) and not yet in MLflow."""
    raw = campaign_config(
        tmp_path / "campaign",
        tracking={"enabled": True, "tracking_uri": uri, "experiment": experiment},
    )
    config = load_campaign_config(write_config(tmp_path / "c.yaml", raw))
    store = CampaignStore(config.campaign_dir)
    state = store.open(raw)
    for number in range(rounds):
        store.save_summary(summary(number))
    state.next_round = rounds
    return CampaignTracker(config, store), store, state


def test_unreachable_tracking_server_warns_once_and_leaves_rounds_pending(tmp_path, caplog):
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    tracker, store, state = tracked_campaign(tmp_path, uri, "unreachable")
    tracker.log_rounds(state)
    state.next_round += 1  # another round completes; the server is still down
    store.save_summary(summary(3))
    tracker.log_rounds(state)
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "matterloop.agent.campaign.tracking"
    ]
    assert len(warnings) == 1 and f"MLflow tracking at {uri} failed" in warnings[0]
    assert "rounds from 0 on are logged once the server answers again" in warnings[0]
    assert store.load_state().logged_rounds == state.logged_rounds == 0
    assert state.mlflow_run_id is None


def test_round_already_in_mlflow_is_not_logged_twice(tmp_path, mlflow_server):
    tracker, store, state = tracked_campaign(tmp_path, mlflow_server, "exactly-once")
    tracker.log_rounds(state)
    assert store.load_state().logged_rounds == 3
    # As if the driver died after logging rounds 1 and 2 but before recording that.
    state.logged_rounds = 1
    tracker.log_rounds(state)
    client = MlflowClient(mlflow_server)
    history = client.get_metric_history(state.mlflow_run_id, "hypervolume")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.0), (1, 0.5), (2, 1.0)]
    assert state.logged_rounds == 3
    assert client.get_run(state.mlflow_run_id).data.params["acquisition.q"] == "2"


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def server(tmp_path):
    """An MLflow server of this test's own, which it stops and starts again."""
    server = MlflowServer(tmp_path / "mlflow")
    server.root.mkdir()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def drivers():
    """The drivers a test starts; any still running at the end is killed."""
    started: list[Driver] = []
    yield started
    for driver in started:
        if driver.process.poll() is None:
            driver.kill()


def test_campaign_under_faults_loses_and_repeats_nothing(tmp_path, server, drivers, capsys):
    directory, fault_dir = tmp_path / "campaign", tmp_path / "faults"
    results, calls_log = directory / "results.jsonl", fault_dir / "calls.log"
    store = CampaignStore(directory)
    raw = faults_config(
        directory,
        fault_dir,
        PLAN,
        acquisition={"q": PICKS},
        budget={"rounds": ROUNDS},
        tracking={"enabled": True, "tracking_uri": server.uri, "experiment": "faults"},
    )
    config_path = write_config(tmp_path / "c.yaml", raw)
    segments: list[tuple[int, int]] = []  # (results, calculations) on disk when a driver died
    server.wait_ready()
    # 1st driver: killed while round 1 is being evaluated.
    drivers.append(driver := Driver(config_path, tmp_path / "run-1.log"))
    driver.wait_for(
        lambda: (
            store.round_dir(0).joinpath("summary.json").exists() and len(lines(results)) > PICKS
        ),
        "result of round 1",
    )
    driver.kill()
    assert not store.round_dir(1).joinpath("summary.json").exists()
    segments.append((len(lines(results)), len(lines(calls_log))))

    # 2nd driver: the MLflow server stops during round 2; killed while round 3 is generated.
    drivers.append(driver := Driver(config_path, tmp_path / "run-2.log"))
    driver.wait_for(lambda: store.picks(2) is not None, "picks of round 2")
    server.stop()
    driver.wait_for(lambda: WARNING in driver.output(), "warning that MLflow is down")
    driver.kill()
    assert store.picks(3) is None, "the driver should die before round 3's picks"
    state = store.load_state()
    assert (state.next_round, state.logged_rounds) == (3, 2)  # round 2 pending for MLflow
    segments.append((len(lines(results)), len(lines(calls_log))))

    # The server comes back (same port and stores); the 3rd driver finishes the budget.
    server.start()
    server.wait_ready()
    drivers.append(driver := Driver(config_path, tmp_path / "run-3.log"))
    assert driver.process.wait(timeout=600) == 0, driver.output()
    outputs = [d.output() for d in drivers]
    assert "resuming faults at round 1" in outputs[1] and "resuming faults at round 3" in outputs[2]
    assert [o.count(WARNING) for o in outputs] == [0, 1, 0]  # warned once, while it was down

    # The budget is spent: every round complete, every pick evaluated exactly once.
    state = store.load_state()
    assert (state.next_round, state.logged_rounds) == (ROUNDS, ROUNDS)
    summaries = store.summaries()
    assert [s.round for s in summaries] == list(range(ROUNDS))
    picks = {p.id: (n, p) for n in range(ROUNDS) for p in store.picks(n)}
    assert len(picks) == sum(s.picks for s in summaries) == ROUNDS * PICKS
    records = [json.loads(line) for line in lines(results)]
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == set(picks)  # each pick's result exactly once
    assert all(r["round"] == picks[r["id"]][0] for r in records)
    evaluations = {e.id: e for e in store.evaluations()}

    # Every calculation is accounted for: the final task's oracle attempts, plus one for each
    # Ray worker killed, plus calculations interrupted by a driver kill; none after a result.
    calls = FaultPlan(fault_dir, PLAN).calls()
    bounds = [0, *(c for _, c in segments), len(calls)]
    result_bounds = [0, *(r for r, _ in segments), len(ids)]
    key_of = {
        i: structure_key(AseAtomsAdaptor.get_atoms(p.structure)) for i, (_, p) in picks.items()
    }
    assert len(set(key_of.values())) == len(picks)
    faults = {i: (fault_dir / "assigned" / key).read_text() for i, key in key_of.items()}
    assert set(faults.values()) == {*FAULTS, "ok"}  # every fault was injected
    interrupted = Counter()
    final: dict[str, list[str]] = {}  # actions of the calculations in the run that recorded it
    for identifier, key in key_of.items():
        done = next(
            s for s in range(3) if identifier in ids[result_bounds[s] : result_bounds[s + 1]]
        )
        per_segment = [
            [action for k, action in calls[bounds[s] : bounds[s + 1]] if k == key] for s in range(3)
        ]
        killed_workers = per_segment[done].count("kill_parent_once")
        assert len(per_segment[done]) == evaluations[identifier].result.attempts + killed_workers
        assert not any(per_segment[done + 1 :]), f"{identifier} calculated after its result"
        interrupted.update(s for s in range(done) if per_segment[s])
        final[identifier] = per_segment[done]
    assert all(count <= 2 for count in interrupted.values())  # at most the 2 CPUs' tasks in flight

    # Failures have the kinds of their faults and are not labels.
    config = load_campaign_config(config_path)
    table = label_table(store.evaluations(), config, None)
    rows = table.set_index("id")
    for identifier, fault in faults.items():
        kind, attempts = EXPECTED[fault]
        if fault == "exit_once" and "exit_once" not in final[identifier]:
            attempts = 1  # its process died in a killed driver's run; the resumed task ran once
        result = evaluations[identifier].result
        assert (None if result.ok else result.failure.kind.value, result.attempts) == (
            kind,
            attempts,
        ), (identifier, fault, result.failure)
        if kind is not None:
            assert result.energy is None and not rows.loc[identifier, "feasible"]
            assert math.isnan(rows.loc[identifier, "energy_per_atom"])
    assert "injected fault" in next(
        evaluations[i].result.failure.reason for i, f in faults.items() if f == "raise"
    )

    # The front of the last round (front.csv, matterloop pareto) is the one the results give.
    front = table[front_mask(table, config.objectives)]
    assert len(front) > 0
    with store.round_dir(ROUNDS - 1).joinpath("front.csv").open() as handle:
        written = {row["id"]: float(row["energy_per_atom"]) for row in csv.DictReader(handle)}
    assert written == dict(zip(front["id"], front["energy_per_atom"], strict=True))
    assert main(["pareto", str(directory), "--out", str(tmp_path / "front.png")]) == 0
    printed = capsys.readouterr().out
    assert f"Pareto front: {len(front)} of {len(table)} labeled structures" in printed
    assert all(identifier in printed for identifier in front["id"])
    assert summaries[-1].pareto_size == len(front)

    # MLflow holds one run with every round's metrics exactly once (rounds 2 and 3 were logged
    # after the restart) and round 2's artifacts.
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("faults").experiment_id
    (run,) = client.search_runs([experiment])
    assert run.info.run_id == state.mlflow_run_id
    for metric in ("hypervolume", "evaluated", "oracle_failures", "pareto_size"):
        history = client.get_metric_history(run.info.run_id, metric)
        assert sorted((m.step, m.value) for m in history) == [
            (s.round, float(getattr(s, metric))) for s in summaries
        ], metric
    assert run.data.params["acquisition.q"] == str(PICKS)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "round_0002")}
    assert {"round_0002/front.csv", "round_0002/summary.json"} <= artifacts
