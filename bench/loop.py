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
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
import yaml
from ase.calculators.calculator import Calculator, all_changes
from pymatgen.core import Lattice, Structure

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


# --------------------------------------------------------------------------------------- scale
class MemoryPeak:
    """Peak RSS (MB) of this process, and of this process with all its descendants (Ray's
    processes and workers), sampled every ``interval_s`` seconds in a thread."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.own_mb = 0.0
        self.tree_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            own = process.memory_info().rss
            tree = own
            for child in process.children(recursive=True):
                try:
                    tree += child.memory_info().rss
                except psutil.Error:
                    continue
            self.own_mb = max(self.own_mb, own / 2**20)
            self.tree_mb = max(self.tree_mb, tree / 2**20)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> MemoryPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - start


def perturbed_copies(structures: Sequence[Structure], count: int, seed: int) -> list[Structure]:
    """``count`` structures: ``structures`` in turn, every copy after the first of each with its
    sites displaced by up to 0.05 Å and its lattice strained by up to 1% (distinct features,
    one match group for the structure matcher)."""
    rng = np.random.default_rng(seed)
    copies = []
    for index in range(count):
        structure = structures[index % len(structures)]
        if index >= len(structures):
            # a new C-ordered lattice: Structure.apply_strain leaves a transposed matrix, which
            # pymatgen's neighbour search (used by matgl's graph converter) refuses
            strain = np.diag(1 + rng.uniform(-0.01, 0.01, 3))
            lattice = Lattice(np.ascontiguousarray(structure.lattice.matrix @ strain))
            structure = Structure(lattice, structure.species, structure.frac_coords)
            structure.perturb(0.05, min_distance=0.0)
        copies.append(structure)
    return copies


@contextmanager
def ray_driver(num_cpus: int) -> Iterator[None]:
    import ray

    from matterloop.agent.campaign.distributed import connect
    from matterloop.agent.campaign.sections import RaySettings

    connect(RaySettings(num_cpus=num_cpus))
    try:
        yield
    finally:
        ray.shutdown()


def stored_campaign(directory: Path):
    """The :class:`~matterloop.agent.campaign.loop.Campaign` of a campaign directory, its surrogate
    fitted on every label there."""
    from matterloop.agent.campaign.loop import Campaign
    from matterloop.agent.commands.campaign import stored_config

    config = stored_config(directory)
    campaign = Campaign(config, yaml.safe_load(CampaignStore(directory).config_path.read_text()))
    campaign.selector.refit_surrogate()
    return campaign


def score_seconds(
    campaign, structures: Sequence[Structure], values: dict[str, list[float]]
) -> dict[str, float]:
    """Seconds of the surrogate embedding and of qLogNEHVI choosing ``q`` picks among
    ``structures``, as :meth:`~matterloop.agent.campaign.selector.Selector.acquire` does."""
    import torch

    from matterloop.agent.campaign.acquisition import select

    config = campaign.config
    surrogate = campaign.selector.surrogate
    embedding, embedding_s = timed(surrogate.embed, structures)
    start = time.perf_counter()
    columns = torch.tensor([values[name] for name in surrogate.computed], dtype=torch.double)
    select(
        surrogate.model,
        torch.cat([embedding, columns.reshape(len(surrogate.computed), -1).T], dim=-1),
        surrogate.labeled_features(start=campaign.selector.prior_rows),
        config.objectives,
        config.constraints,
        surrogate.output_names,
        config.acquisition.q,
        config.acquisition.mc_samples,
        config.seed,
    )
    return {"embedding": embedding_s, "acquisition": time.perf_counter() - start}


def plot_breakdown(breakdown: dict[int, dict[str, float]], path: Path) -> None:
    """Stacked bars: seconds per stage at each candidate count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(breakdown)
    figure, axis = plt.subplots(figsize=(6, 4))
    bottom = np.zeros(len(sizes))
    for stage in breakdown[sizes[0]]:
        heights = np.array([breakdown[size][stage] for size in sizes])
        axis.bar([str(size) for size in sizes], heights, bottom=bottom, label=stage)
        bottom += heights
    axis.set_xlabel(f"candidates per round (generation extrapolated beyond {sizes[0]})")
    axis.set_ylabel("seconds (2 shared CPU cores)")
    axis.set_title("Choosing picks: seconds per stage")
    axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    print(f"saved {path}")


def generated_candidates(campaign, count: int, args: argparse.Namespace):
    """``count`` structures from the campaign's generator as a Ray task (as the loop makes them)
    and the seconds it took; kept in the campaign directory and reused by a later run."""
    from matterloop.agent.campaign.distributed import (
        GenerationRequest,
        generate_structures,
        remote_call,
    )

    saved = args.campaign / f"bench-generated-{count}-{args.steps}.json"
    if saved.is_file():
        record = json.loads(saved.read_text())
        print(f"generated structures and their seconds read from {saved}")
        return [Structure.from_dict(s) for s in record["structures"]], record["seconds"]
    settings = campaign.config.generator.model_copy(
        update={"num_candidates": count, "steps": args.steps, "batch_size": args.batch_size}
    )
    request = GenerationRequest(settings.checkpoint, settings, {}, campaign.config.seed)
    (generated, _), seconds = timed(remote_call, generate_structures, request)
    saved.write_text(json.dumps({"seconds": seconds, "structures": generated}))
    print(f"generated {len(generated)} in {seconds:.0f} s ({args.steps} steps)", flush=True)
    return [Structure.from_dict(s) for s in generated], seconds


def scale(args: argparse.Namespace) -> None:
    from matterloop.agent.campaign.candidates import filter_candidates

    campaign = stored_campaign(args.campaign)
    config = campaign.config
    labeled = [e.result.initial_structure for e in campaign.store.evaluations()]
    smallest = min(args.sizes)
    rows = [
        "| candidates | generation s | filter s | kept | embedding s "
        f"| acquisition s (q {config.acquisition.q}) | total s | candidates/min "
        "| peak RSS driver MB | peak RSS with Ray MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    breakdown: dict[int, dict[str, float]] = {}
    with MemoryPeak() as memory, ray_driver(config.ray.num_cpus or 2):
        generated, generation_s = generated_candidates(campaign, smallest, args)
        reference, reference_s = timed(campaign.novelty_reference)  # once per campaign
        print(f"novelty reference loaded in {reference_s:.0f} s (once per campaign)", flush=True)
        scorable = None  # the candidates kept from the generated structures themselves
        for size in sorted(args.sizes):
            candidates, filter_s = timed(
                filter_candidates,
                perturbed_copies(generated, size, seed=size),
                labeled,
                config.computed,
                config.filters,
                reference,
            )
            if scorable is None:
                scorable = candidates
            structures = perturbed_copies(scorable.structures, size, seed=size)
            values = {
                name: [column[i % len(column)] for i in range(size)]
                for name, column in scorable.values.items()
            }
            seconds = {
                "generation": generation_s * size / smallest,
                "filter": filter_s,
                **score_seconds(campaign, structures, values),
            }
            breakdown[size] = seconds
            total = sum(seconds.values())
            note = "" if size == smallest else " (extrapolated)"
            rows.append(
                f"| {size} | {seconds['generation']:.0f}{note} "
                f"| {filter_s:.1f} | {candidates.report.kept} | {seconds['embedding']:.1f} "
                f"| {seconds['acquisition']:.1f} | {total:.0f} | {60 * size / total:.0f} "
                f"| {memory.own_mb:.0f} | {memory.tree_mb:.0f} |"
            )
            print(rows[-1], flush=True)
    print("\n".join(rows))
    if args.plot:
        plot_breakdown(breakdown, args.plot)


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
