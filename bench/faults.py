"""Fault tolerance under load: a campaign with injected oracle faults and repeated driver kills.

    python -m bench.faults [--rounds 6] [--picks 6] [--fault-rate 0.2] [--kills 3] [--out DIR]

Runs the same campaign twice as ``matterloop run`` processes on a local Ray instance: once without
faults, once with ``--fault-rate`` of the structures misbehaving — the faults of
:class:`tests.agent.doubles.FaultyLennardJones` in turn (an exception, a hang past the 5 s time
limit, a NaN energy, a process that dies every time or once, a Ray worker SIGKILLed once) — and the
driver SIGKILLed ``--kills`` times, at evenly spaced counts of recorded results, each time resumed
by a new driver. The oracle is the Lennard-Jones test double (every element, cheap), so the
figures are the campaign machinery's, not a potential's. Prints (and writes as markdown to
``--out``/faults.md):

- oracle results, failures by kind, results lost (picks without a result, and results recorded
  before a kill missing afterwards) and duplicated (ids recorded twice) — both must be 0;
- calculations: calculator invocations in all, split into the oracle's own retries, Ray task
  retries after a killed worker, and calculations cut off by a driver kill and redone;
- wall time of both campaigns; the difference is the time lost to faults (the faulty campaign's
  picks differ after its first failure, so it is approximate), and of it, the oracle seconds spent
  on failed results.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

from matterloop.agent.campaign.store import CampaignStore
from tests.agent.conftest import Driver, faults_config, write_config
from tests.agent.doubles import FAULTS, FaultPlan


def spread_plan(rate: float) -> list[str]:
    """A cyclic plan in which a fraction ``rate`` of the structures get a fault, each fault of
    :data:`FAULTS` once per cycle, evenly spaced."""
    length = max(len(FAULTS), round(len(FAULTS) / rate))
    plan = ["ok"] * length
    for i, fault in enumerate(FAULTS):
        plan[math.floor(i * length / len(FAULTS))] = fault
    return plan


def run_campaign(
    root: Path, plan: list[str], rounds: int, picks: int, kills: int
) -> tuple[float, list[list[str]]]:
    """Run the campaign in ``root`` to its end, SIGKILLing the driver ``kills`` times; returns
    the wall time (s) and the lines of ``results.jsonl`` at each kill."""
    config = faults_config(
        root / "campaign",
        root / "faults",
        plan,
        acquisition={"q": picks},
        budget={"rounds": rounds},
        mlflow={"enabled": False},
    )
    root.mkdir(parents=True, exist_ok=True)
    config_path = write_config(root / "campaign.yaml", config)
    results = root / "campaign" / "results.jsonl"

    def recorded() -> list[str]:
        return results.read_text().splitlines() if results.exists() else []

    targets = [round((k + 1) * rounds * picks / (kills + 1)) for k in range(kills)]
    at_kills: list[list[str]] = []
    start = time.perf_counter()
    for number, target in enumerate([*targets, None]):
        driver = Driver(config_path, root / f"run-{number}.log")
        try:
            if target is None:
                assert driver.process.wait() == 0, driver.output()
            else:
                driver.wait_for(lambda t=target: len(recorded()) >= t, f"{target} results", 1800)
                driver.kill()
                at_kills.append(recorded())
        finally:
            if driver.process.poll() is None:
                driver.kill()
    return time.perf_counter() - start, at_kills


def report(root: Path, wall: float, baseline: float, at_kills: list[list[str]]) -> list[str]:
    """Markdown rows of the figures of the faulty campaign in ``root``."""
    store = CampaignStore(root / "campaign")
    state = store.load_state()
    lines = store.results_path.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    evaluations = store.evaluations()
    picked = [p.id for n in range(state.next_round) for p in store.picks(n)]
    ids = Counter(r["id"] for r in records)
    failures = Counter(e.result.failure.kind.value for e in evaluations if not e.result.ok)
    calls = FaultPlan(root / "faults", []).calls()
    attempts = sum(e.result.attempts for e in evaluations)
    worker_kills = sum(action == "kill_parent_once" for _, action in calls)
    failed_seconds = sum(e.result.wall_time_s for e in evaluations if not e.result.ok)
    rows = [
        ("rounds completed", state.next_round),
        ("oracle results", len(records)),
        ("failures by kind", ", ".join(f"{k} {n}" for k, n in sorted(failures.items()))),
        ("picks without a result", len(set(picked) - set(ids))),
        (
            "results on disk at a kill missing at the end",
            sum(len(set(k) - set(lines)) for k in at_kills),
        ),
        ("results duplicated", sum(n - 1 for n in ids.values())),
        (
            "driver kills (results on disk at each)",
            f"{len(at_kills)} ({[len(k) for k in at_kills]})",
        ),
        ("calculator invocations", len(calls)),
        ("– of which oracle retries", attempts - len(evaluations)),
        ("– of which Ray task retries (worker killed)", worker_kills),
        ("– of which redone after a driver kill", len(calls) - attempts - worker_kills),
        ("wall time, faults and kills", f"{wall:.0f} s"),
        ("wall time, same campaign without faults", f"{baseline:.0f} s"),
        ("time lost to faults", f"{wall - baseline:.0f} s"),
        ("oracle seconds spent on failed results", f"{failed_seconds:.0f} s"),
    ]
    return ["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--picks", type=int, default=6, help="oracle picks per round")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--kills", type=int, default=3, help="driver SIGKILLs")
    parser.add_argument("--out", type=Path, help="folder for the campaigns and faults.md")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-faults-"))
    out.mkdir(parents=True, exist_ok=True)
    baseline, _ = run_campaign(out / "baseline", ["ok"], args.rounds, args.picks, kills=0)
    print(f"without faults: {baseline:.0f} s", flush=True)
    plan = spread_plan(args.fault_rate)
    wall, at_kills = run_campaign(out / "faulty", plan, args.rounds, args.picks, args.kills)
    table = "\n".join(report(out / "faulty", wall, baseline, at_kills))
    print(table)
    (out / "faults.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
