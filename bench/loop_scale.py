"""The ``scale`` part of :mod:`bench.loop`: the stages of choosing a round's picks among many
candidates, with a campaign's surrogate and labels, and the memory it takes (see
:mod:`bench.loop`'s docstring; run ``python -m bench.loop scale``)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import psutil
import yaml
from pymatgen.core import Lattice, Structure

from matterloop.agent.campaign.store import CampaignStore

T = TypeVar("T")


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
    from matterloop.agent.cli.campaign import stored_config

    config = stored_config(directory)
    campaign = Campaign(config, yaml.safe_load(CampaignStore(directory).config_path.read_text()))
    campaign.selector.refit_surrogate()
    return campaign


def score_seconds(
    campaign, structures: Sequence[Structure], values: dict[str, list[float]]
) -> dict[str, float]:
    """Seconds of the surrogate's features (the embedding; ``values`` are the computed
    quantities) and of qLogNEHVI choosing ``q`` picks among ``structures``, as
    :meth:`~matterloop.agent.campaign.selector.Selector.acquire` does."""
    from matterloop.agent.campaign.acquisition import select

    config = campaign.config
    surrogate = campaign.selector.surrogate
    features, embedding_s = timed(surrogate.features, structures, values)
    start = time.perf_counter()
    select(
        surrogate.model,
        features,
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
