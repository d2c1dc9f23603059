"""Building a reference hull with an oracle (``matterloop reference build``): :func:`build_hull`.

The jobs are a dataset's structures and relaxed elemental references, keyed
``<material_id>:static`` or ``<material_id>:relaxed``; they are labeled as Ray tasks into a
results file next to the hull file, which a later run resumes, and the hull of every labeled
structure is written at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.core import Structure
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from matterloop.core.cluster import ray_session
from matterloop.core.result import OracleResult
from matterloop.core.results_file import ResultRecord, append_result
from matterloop.core.writer_lock import exclusive_writer
from matterloop.data.paths import SPLITS
from matterloop.oracles.distributed import label_chunks, make_chunks
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.references.selection import (
    ElementalReference,
    dataset_entries,
    elemental_references,
)
from matterloop.oracles.registry import OracleSpec
from matterloop.oracles.results import read_results, repair_results

COLUMNS = Progress.get_default_columns()


@dataclass(frozen=True)
class RayOptions:
    """Where the jobs run: a local Ray instance of ``workers`` CPUs or the cluster at
    ``address``, ``chunk_size`` structures per task."""

    workers: int = 1
    address: str | None = None
    chunk_size: int = 32


def results_path(out: Path) -> Path:
    """``<name>.jsonl`` next to the hull file ``<name>.json.gz``."""
    return out.with_name(out.name.split(".")[0] + ".jsonl")


def mode_specs(name: str, settings: dict[str, Any]) -> dict[str, OracleSpec]:
    """The oracle for single points (``static``) and for relaxations of positions and cell
    (``relaxed``), from the user's settings."""
    relax = {**(settings.get("relax") or {}), "relax_cell": True}
    return {
        "static": OracleSpec(name=name, settings={**settings, "relax": None}),
        "relaxed": OracleSpec(name=name, settings={**settings, "relax": relax}),
    }


def reference_jobs(
    entries: dict[str, Structure],
    references: dict[str, ElementalReference],
    specs: dict[str, OracleSpec],
    relax: bool,
) -> dict[str, tuple[Structure, OracleSpec]]:
    """The structure and oracle of each result a hull needs, keyed ``<material_id>:<mode>``:
    the dataset's ``entries`` (relaxed with ``relax``, else single points) and the relaxed
    elemental ``references``."""
    mode = "relaxed" if relax else "static"
    jobs = {f"{i}:{mode}": (s, specs[mode]) for i, s in entries.items()}
    for reference in references.values():
        jobs[f"{reference.material_id}:relaxed"] = (reference.structure, specs["relaxed"])
    return jobs


def label_pending(
    jobs: dict[str, tuple[Structure, OracleSpec]],
    results: dict[str, OracleResult],
    out: Path,
    ray: RayOptions,
    console: Console,
) -> None:
    """Label the jobs whose keys are not in ``results`` as Ray tasks (chunks of
    ``ray.chunk_size`` structures), appending each chunk's results to ``out`` as it returns and
    adding them to ``results``; a chunk that fails after Ray's retries is left for the next
    run, with a warning."""
    pending: dict[str, list[tuple[str, Structure]]] = {}
    specs: dict[str, OracleSpec] = {}
    for key, (structure, spec) in jobs.items():
        if key not in results:
            mode = key.rsplit(":", 1)[1]
            pending.setdefault(mode, []).append((key, structure))
            specs[mode] = spec
    total = sum(len(items) for items in pending.values())
    if total < len(jobs):
        console.print(f"{len(jobs) - total} of {len(jobs)} results already in {out}; skipped")
    if not total:
        return
    chunks = [
        chunk
        for mode, items in pending.items()
        for chunk in make_chunks(items, specs[mode], ray.chunk_size)
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        ray_session(ray.workers, ray.address),
        out.open("a", encoding="utf-8") as handle,
        Progress(*COLUMNS, MofNCompleteColumn(), console=console) as progress,
    ):
        name = next(iter(specs.values())).name
        bar = progress.add_task(f"{name} on Ray", total=total)
        for chunk, outcome in label_chunks(chunks):
            if isinstance(outcome, str):
                console.print(
                    f"[yellow]warning:[/] {len(chunk.items)} structure(s) from "
                    f"{chunk.items[0][0]} on not labeled, left for the next run: {outcome}",
                    highlight=False,
                )
                continue
            for (key, _), result in zip(chunk.items, outcome, strict=True):
                append_result(handle, ResultRecord(key, result))
                results[key] = result
            progress.advance(bar, len(chunk.items))


@dataclass(frozen=True)
class HullRequest:
    """A hull to build: the ``oracle`` (its registry name and ``settings``) on the ``splits`` of
    ``dataset`` (the first ``limit`` structures; with ``elements``, only those of that chemical
    system and its subsystems), relaxed with ``relax``, else single points; written to ``out``
    (``.json.gz``), its results to :func:`results_path`."""

    oracle: str
    settings: dict[str, Any]
    out: Path
    dataset: str = "mp_20"
    splits: tuple[str, ...] = SPLITS
    limit: int | None = None
    elements: tuple[str, ...] | None = None
    relax: bool = False
    data_dir: str | os.PathLike | None = None
    ray: RayOptions = RayOptions()


@dataclass(frozen=True)
class BuiltHull:
    """What :func:`build_hull` made: the ``hull``, the ``results`` of its jobs (by key) and the
    number of ``jobs`` (those without a result were not labeled, e.g. a chunk lost on Ray)."""

    hull: ReferenceHull
    results: dict[str, OracleResult]
    jobs: int


def build_hull(request: HullRequest, console: Console) -> BuiltHull:
    """Label the jobs of ``request`` that its results file lacks and write the hull of all of
    them; says on ``console`` what is labeled, and which elements have no reference structure.

    Raises:
        StoreLockedError: another live process writes to the results file.
    """
    specs = mode_specs(request.oracle, request.settings)
    entries = dataset_entries(
        request.dataset, request.splits, request.limit, request.data_dir, request.elements
    )
    elements = {el.symbol for s in entries.values() for el in s.composition.elements}
    elements |= set(request.elements or ())
    references, missing = elemental_references(elements, request.dataset, request.data_dir)
    console.print(
        f"{len(entries)} structure(s) of {request.dataset} {','.join(request.splits)} "
        f"({'relaxed' if request.relax else 'single points'}); {len(references)} relaxed "
        "elemental reference(s)",
        highlight=False,
    )
    prototypes = sorted(e for e, r in references.items() if r.is_prototype)
    if prototypes:
        console.print(
            f"no pure-element structure with positions in {request.dataset} for "
            f"{', '.join(prototypes)}: their tabulated ground-state structures are relaxed instead",
            highlight=False,
        )
    if missing:
        console.print(
            f"[yellow]warning:[/] no elemental reference for {', '.join(missing)}: the hull "
            "cannot place compounds containing them",
            highlight=False,
        )
    jobs = reference_jobs(entries, references, specs, request.relax)
    out = results_path(request.out)
    with exclusive_writer(out):
        repair_results(out, console)
        results = read_results(out, request.oracle, console)
        label_pending(jobs, results, out, request.ray, console)
        ours = {key: results[key] for key in jobs if key in results}
        hull = ReferenceHull.from_results(ours.values())
        request.out.parent.mkdir(parents=True, exist_ok=True)
        hull.save(request.out)
    return BuiltHull(hull, ours, len(jobs))
