"""Cost of the campaign loop itself: overhead per round, oracle worker utilization, scale.

    python -m bench.loop overhead --dir DIR [--q 8] [--candidates 64] [--rounds 3]
    python -m bench.loop utilization [--workers 8] [--num 64] [--delay 1.0]
    python -m bench.loop startup
    python -m bench.loop scale --campaign DIR [--sizes 256 1024 4096] [--steps 100] [--plot PNG]

Run it as a module from the repository root. Prints markdown tables:

1. **overhead**: runs ``matterloop run`` on ``configs/quickstart.yaml`` with ``--q`` picks and
   ``--candidates`` candidates a round (CHGNet oracle, the config's two Ray workers), then reads
   the per-stage seconds of every round summary: time outside oracle calls (generation, filter,
   acquisition, surrogate refit) as a share of oracle time. For a DFT oracle it times GPAW single
   points of bcc Fe and diamond Si in this process and projects the oracle time of a round as
   ``q × GPAW seconds per structure / workers``.
2. **utilization**: ``--num`` structures through
:func:`matterloop.agent.campaign.distributed.evaluate_on_ray`
   on a local Ray instance with ``--workers`` logical CPUs, with an oracle whose calculator only
   sleeps ``--delay`` seconds (:class:`SleepCalculator`, a stand-in for a long calculation).
   Utilization = Σ oracle seconds (each result's ``wall_time_s``) / (workers × wall seconds), for
   a first batch (fresh workers) and a second one in the same Ray session (as in later rounds),
   with the oracle in a child process (the default) and inline.
   **startup**: CPU seconds a fresh process needs to build that oracle and label one structure
   (what each fresh Ray worker pays on its first task), with either isolation.
3. **scale**: the stages of :meth:`matterloop.agent.campaign.loop.Campaign.choose` at ``--sizes``
candidates,
   with the surrogate and labels of the campaign in ``--campaign`` (run ``overhead`` first):
   generation of the smallest size for real (as a Ray task, ``--steps`` steps), extrapolated
   linearly to the larger ones; the filter (incl. novelty against MP-20), the surrogate embedding
   and qLogNEHVI over all candidates measured for real, on candidates made by perturbing copies of
   the generated ones. Peak RSS of the process and of the process with its Ray workers.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml
from ase.calculators.calculator import Calculator, all_changes
from pymatgen.core import Lattice, Structure

from bench.loop_scale import scale
from matterloop.agent.campaign.store import CampaignStore

QUICKSTART = Path(__file__).resolve().parents[1] / "configs/quickstart.yaml"
STAGES = ("generation", "filter", "acquisition", "surrogate_refit")
"""The stages of a round outside the oracle calls, as named in the round summaries."""
T = TypeVar("T")


# ------------------------------------------------------------------------------------ overhead
def overhead_config(q: int, candidates: int, rounds: int) -> dict[str, Any]:
    """``configs/quickstart.yaml`` with ``q`` picks (and as many initial labels) and
    ``candidates`` generated candidates per round."""
    config = yaml.safe_load(QUICKSTART.read_text())
    config["name"] = "bench-overhead"
    config["acquisition"] = {**config["acquisition"], "q": q, "initial_labels": q}
    generator = config["generator"]
    config["generator"] = {**generator, "num_candidates": candidates, "batch_size": candidates}
    config["budget"] = {**config["budget"], "rounds": rounds}
    return config


def run_campaign(config: dict[str, Any], directory: Path) -> float:
    """``matterloop run CONFIG --dir directory --no-mlflow`` in a subprocess; wall seconds."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "campaign.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        command = [
            str(Path(sys.executable).parent / "matterloop"),
            "run", str(path), "--dir", str(directory), "--no-mlflow",
        ]  # fmt: skip
        print("$", " ".join(command[1:]), flush=True)
        start = time.perf_counter()
        subprocess.run(command, check=True)
        return time.perf_counter() - start


def stage_rows(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """One row per round: seconds per stage and the non-oracle share of oracle time."""
    rows = [
        "| round | method | picks | generation s | filter s | acquisition s | oracle s "
        "| surrogate refit s | non-oracle s | non-oracle / oracle |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for summary in summaries:
        seconds = summary.seconds
        other = sum(seconds.get(stage, 0.0) for stage in STAGES)
        stages = " | ".join(f"{seconds.get(stage, 0.0):.1f}" for stage in STAGES[:3])
        rows.append(
            f"| {summary.round} | {summary.method} | {summary.picks} | {stages} "
            f"| {seconds['oracle']:.1f} | {seconds.get('surrogate_refit', 0.0):.1f} "
            f"| {other:.1f} | {other / seconds['oracle']:.0%} |"
        )
    return rows


def gpaw_seconds(settings: dict[str, Any]) -> dict[str, float]:
    """Wall seconds of GPAW single points of bcc Fe and diamond Si in this process."""
    from bench.oracles import bcc_fe, diamond_si
    from matterloop.oracles import GPAWOracle

    inline = {**settings, "robustness": {"isolation": "inline"}}
    seconds = {}
    with GPAWOracle.from_settings(inline) as oracle:
        for name, structure in (
            ("bcc Fe (1 atom)", bcc_fe()),
            ("diamond Si (2 atoms)", diamond_si()),
        ):
            start = time.perf_counter()
            (result,) = oracle.evaluate([structure])
            if not result.ok:
                raise RuntimeError(f"GPAW failed on {name}: {result.failure}")
            seconds[name] = time.perf_counter() - start
    return seconds


def projection_rows(
    summaries: Sequence[dict[str, Any]], timings: dict[str, dict[str, float]], q: int, workers: int
) -> list[str]:
    """Non-oracle seconds of the mean round against a projected DFT oracle time per round."""
    other = np.mean([sum(s.seconds.get(stage, 0.0) for stage in STAGES) for s in summaries])
    rows = [
        "| GPAW settings | cell | GPAW s per structure | projected oracle s per round "
        f"(q {q}, {workers} workers) | non-oracle s | non-oracle / oracle |",
        "|---|---|---|---|---|---|",
    ]
    for label, seconds in timings.items():
        for cell, per_structure in seconds.items():
            oracle = q * per_structure / workers
            rows.append(
                f"| {label} | {cell} | {per_structure:.1f} | {oracle:.0f} | {other:.1f} "
                f"| {other / oracle:.1%} |"
            )
    return rows


def overhead(args: argparse.Namespace) -> None:
    from bench.oracles import GPAW_TEST_SETTINGS
    from matterloop.oracles.dft import GPAWConfig

    config = overhead_config(args.q, args.candidates, args.rounds)
    wall = run_campaign(config, args.dir)
    summaries = CampaignStore(args.dir).summaries()
    print("\n".join(stage_rows(summaries)))
    staged = sum(sum(s.seconds.values()) for s in summaries)
    print(
        f"\ncampaign wall {wall:.0f} s; stages of the summaries {staged:.0f} s; the rest "
        f"{wall - staged:.0f} s (start-up, Ray, model loading, tables and plots)"
    )
    results = [e.result for e in CampaignStore(args.dir).evaluations()]
    chgnet = [r.wall_time_s for r in results if r.wall_time_s is not None]
    print(f"CHGNet: {len(chgnet)} results, {np.mean(chgnet):.1f} s mean wall time per structure\n")
    defaults = GPAWConfig()
    timings = {
        f"PW {GPAW_TEST_SETTINGS['ecut']:.0f} eV, {GPAW_TEST_SETTINGS['kpt_density']} k/Å⁻¹ "
        "(tests)": gpaw_seconds(GPAW_TEST_SETTINGS),
        f"PW {defaults.ecut:.0f} eV, {defaults.kpt_density} k/Å⁻¹ (oracle defaults)": gpaw_seconds(
            {}
        ),
    }
    ray = config["ray"]
    workers = int(ray["num_cpus"] // ray["oracle_cpus"])
    print("\n".join(projection_rows(summaries, timings, args.q, workers)))


# --------------------------------------------------------------------------------- utilization
class SleepCalculator(Calculator):
    """Test double: zero energy, forces and stress after sleeping ``delay_s`` seconds per
    calculation (a stand-in for a calculation that keeps its worker busy; it uses no CPU)."""

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, delay_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        time.sleep(self.delay_s)
        self.results = {
            "energy": 0.0,
            "free_energy": 0.0,
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.zeros(6),
        }


def sleeping_oracle(delay_s: float, isolation: str):
    """The ``ase`` oracle spec of a :class:`SleepCalculator` single point."""
    from matterloop.oracles.registry import OracleSpec

    return OracleSpec(
        name="ase",
        settings={
            "calculator": "bench.loop:SleepCalculator",
            "calculator_kwargs": {"delay_s": delay_s},
            "fresh_calculator": False,
            "relax": None,
            "robustness": {"isolation": isolation},
        },
    )


def rocksalt(index: int) -> Structure:
    """A distinct two-atom cell per index (NaCl with lattice constant 5.0 + 0.001 index Å)."""
    return Structure(Lattice.cubic(5.0 + 0.001 * index), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])


def utilization_batch(num: int, spec, workers: int) -> tuple[float, float, int]:
    """Evaluate ``num`` structures on Ray; (wall seconds, Σ oracle seconds, failures)."""
    from matterloop.agent.campaign.distributed import evaluate_on_ray
    from matterloop.agent.campaign.sections import RaySettings

    items = [(f"s{i:05d}", rocksalt(i)) for i in range(num)]
    start = time.perf_counter()
    results = [r for _, r in evaluate_on_ray(items, spec, RaySettings(num_cpus=workers))]
    wall = time.perf_counter() - start
    busy = sum(r.wall_time_s or 0.0 for r in results)
    return wall, busy, sum(not r.ok for r in results)


def startup_seconds(isolation: str) -> tuple[float, float]:
    """CPU and wall seconds of a fresh Python process that builds the sleeping oracle (as a Ray
    worker does on its first task) and evaluates one structure with a zero delay; the CPU
    seconds include the oracle's child process with ``isolation: process``."""
    code = (
        "import json; from bench.loop import rocksalt, sleeping_oracle; "
        "from matterloop.oracles.distributed import worker_oracle; "
        f"spec = sleeping_oracle(0.0, {isolation!r}); "
        "oracle = worker_oracle(spec.name, json.dumps(spec.settings, sort_keys=True)); "
        "assert oracle.evaluate([rocksalt(0)])[0].ok; oracle.close()"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return cpu, wall


def startup(args: argparse.Namespace) -> None:
    print("| oracle isolation | CPU s | wall s |")
    print("|---|---|---|")
    for isolation in ("process", "inline"):
        cpu, wall = startup_seconds(isolation)
        print(f"| {isolation} | {cpu:.1f} | {wall:.1f} |", flush=True)


def utilization(args: argparse.Namespace) -> None:
    import ray

    from matterloop.agent.campaign.distributed import connect
    from matterloop.agent.campaign.sections import RaySettings

    ideal = args.num * args.delay / args.workers
    print(
        f"{args.num} structures, {args.delay:g} s each, {args.workers} workers "
        f"(ideal wall {ideal:.1f} s)\n"
    )
    print("| oracle isolation | batch | wall s | Σ oracle s | failed | utilization |")
    print("|---|---|---|---|---|---|")
    for isolation in ("process", "inline"):
        connect(RaySettings(num_cpus=args.workers))
        spec = sleeping_oracle(args.delay, isolation)
        try:
            for batch in ("first (fresh workers)", "second (same session)"):
                wall, busy, failed = utilization_batch(args.num, spec, args.workers)
                print(
                    f"| {isolation} | {batch} | {wall:.1f} | {busy:.1f} | {failed} "
                    f"| {busy / (args.workers * wall):.0%} |",
                    flush=True,
                )
        finally:
            ray.shutdown()


# ---------------------------------------------------------------------------------------- main
def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("overhead", help="seconds per stage of a CHGNet campaign; GPAW")
    run.add_argument("--dir", type=Path, required=True, help="campaign directory")
    run.add_argument("--q", type=int, default=8)
    run.add_argument("--candidates", type=int, default=64)
    run.add_argument("--rounds", type=int, default=3)
    run.set_defaults(function=overhead)
    run = commands.add_parser("utilization", help="oracle worker utilization on Ray")
    run.add_argument("--workers", type=int, default=8)
    run.add_argument("--num", type=int, default=64)
    run.add_argument("--delay", type=float, default=1.0, help="oracle seconds per structure")
    run.set_defaults(function=utilization)
    run = commands.add_parser("startup", help="CPU seconds a fresh oracle worker needs")
    run.set_defaults(function=startup)
    run = commands.add_parser("scale", help="stages of choosing picks at many candidates")
    run.add_argument("--campaign", type=Path, required=True, help="from `overhead`")
    run.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 4096])
    run.add_argument("--steps", type=int, default=100, help="sampling steps (quickstart: 100)")
    run.add_argument("--plot", type=Path, help="stacked bar chart of the stages (PNG)")
    run.add_argument("--batch-size", type=int, default=64)
    run.set_defaults(function=scale)
    args = parser.parse_args()
    args.function(args)


if __name__ == "__main__":
    main()
