"""Sets of generated structures relaxed by an oracle and measured on the S.U.N. protocol, kept on
disk so that an interrupted run continues where it stopped.

A :class:`StructureSet` is a folder holding ``structures.jsonl`` (id, structure, seconds it took
to make) and ``results.jsonl`` (the oracle's results, :mod:`matterloop.core.results_file`). The
S.U.N. benchmark (``bench/sun.py``) and the generator's reward loop
(:mod:`matterloop.agent.improve`) fill, relax and measure them the same way.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from pymatgen.core import Structure
from rich.console import Console
from tqdm import tqdm

from matterloop.core.cluster import ray_session
from matterloop.core.result import OracleResult
from matterloop.core.results_file import ResultRecord, append_result
from matterloop.generator.evaluation import EvaluationReport, ReferenceSet, evaluate_samples
from matterloop.generator.guided import generate
from matterloop.oracles.distributed import crashed, label_chunks, make_chunks
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.registry import OracleSpec
from matterloop.oracles.results import read_results
from matterloop.oracles.stability import StabilityMetric

SAMPLING_BATCH = 64
"""Crystals sampled at once; batches are seeded by their position in the set."""


class StructureSet:
    """A named list of structures with ids, kept in ``<root>/<name>/structures.jsonl``, the
    seconds it took to make them, and the results of ``oracle`` on them."""

    def __init__(self, root: Path, name: str, oracle: str = "chgnet") -> None:
        self.name = name
        self.oracle = oracle
        self.folder = root / name
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "structures.jsonl"
        self.results_path = self.folder / "results.jsonl"
        self.items: list[tuple[str, Structure]] = []
        self.seconds = 0.0
        if self.path.is_file():
            lines = self.path.read_text().splitlines(keepends=True)
            kept = []
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a last line cut short: sampled again
                    break
                kept.append(line if line.endswith("\n") else line + "\n")
                self.items.append((record["id"], Structure.from_dict(record["structure"])))
                self.seconds += record["seconds"]
            if len(kept) < len(lines):
                self.path.write_text("".join(kept))

    def extend(self, structures: Sequence[Structure], seconds: float) -> None:
        """Append ``structures``, made in ``seconds``, each carrying its share of the time."""
        with self.path.open("a") as handle:
            for structure in structures:
                identifier = f"{self.name}-{len(self.items):05d}"
                share = seconds / len(structures)
                record = {"id": identifier, "seconds": share, "structure": structure.as_dict()}
                handle.write(json.dumps(record) + "\n")
                self.items.append((identifier, structure))
                self.seconds += share

    def results(self) -> dict[str, OracleResult]:
        if not self.results_path.is_file():
            return {}
        return read_results(self.results_path, self.oracle, Console(stderr=True))


def fill_generated(
    target: StructureSet,
    count: int,
    steps: int,
    checkpoint: Path | None,
    seed: int,
    symmetric: bool = False,
) -> None:
    """Sample from ``checkpoint`` (None: the shipped model) until ``target`` holds ``count``
    structures, in batches seeded by their position, so that a continued run draws what an
    uninterrupted one would; ``symmetric``: each in a Wyckoff arrangement of the training
    crystals, else free."""
    with tqdm(total=count, initial=len(target.items), desc=target.name) as progress:
        while len(target.items) < count:
            size = min(SAMPLING_BATCH, count - len(target.items))
            started = time.perf_counter()
            result = generate(
                checkpoint,
                size,
                steps=steps,
                batch_size=SAMPLING_BATCH,
                seed=seed + len(target.items),
                wyckoff=symmetric,
            )
            target.extend(result.structures, time.perf_counter() - started)
            progress.update(len(result.structures))


def interleaved(sets: Sequence[StructureSet]) -> Iterator[tuple[StructureSet, str, Structure]]:
    """The structures without a result, one set after the other in turn, so that every set
    advances at the same pace."""
    pending = []
    for structure_set in sets:
        done = structure_set.results()
        pending.append([(structure_set, i, s) for i, s in structure_set.items if i not in done])
    for row in itertools.chain.from_iterable(itertools.zip_longest(*pending)):
        if row is not None:
            yield row


def relax_all(
    sets: Sequence[StructureSet],
    workers: int,
    spec: OracleSpec | None = None,
    record_crashes: bool = False,
) -> None:
    """Evaluate every structure without a result with ``spec`` (default: CHGNet, one thread)
    on ``workers`` Ray workers, appending each result to its set's journal as it returns. A
    structure whose task died every time is left for a rerun, or, with ``record_crashes``,
    recorded as a ``worker_crashed`` failure."""
    work = list(interleaved(sets))
    if not work:
        return
    spec = spec or OracleSpec(name=sets[0].oracle, settings={"threads": 1})
    owner = {identifier: structure_set for structure_set, identifier, _ in work}
    chunks = make_chunks([(identifier, s) for _, identifier, s in work], spec, size=1)
    handles = {s.name: s.results_path.open("a") for s in sets}
    try:
        with ray_session(workers), tqdm(total=len(chunks), desc=f"{spec.name} relaxations") as bar:
            for chunk, outcome in label_chunks(chunks):
                ((identifier, structure),) = chunk.items
                handle = handles[owner[identifier].name]
                if not isinstance(outcome, str):
                    append_result(handle, ResultRecord(identifier, outcome[0]))
                elif record_crashes:
                    result = crashed(spec.name, structure, outcome)
                    append_result(handle, ResultRecord(identifier, result))
                else:
                    bar.write(f"{identifier}: {outcome}")
                bar.update(1)
    finally:
        for handle in handles.values():
            handle.close()


def measure_set(
    structure_set: StructureSet, reference: ReferenceSet, hull: ReferenceHull
) -> EvaluationReport:
    """The S.U.N. protocol's figures of ``structure_set`` (structures without a result are left
    out), with ``oracle_failures``, ``sun_count`` and ``seconds_per_sun`` (making plus oracle
    wall time over the S.U.N. count) added to the summary; written to ``evaluation.json``."""
    results = structure_set.results()
    items = [(i, s) for i, s in structure_set.items if i in results]
    ids = [i for i, _ in items]

    def lookup(structures: list[Structure]) -> list[OracleResult]:
        return [results[i] for i in ids]

    report = evaluate_samples(
        [s for _, s in items], reference, ids, [StabilityMetric(lookup, hull)]
    )
    summary = report.summary
    oracle_seconds = sum(results[i].wall_time_s for i in ids)
    making_seconds = structure_set.seconds * len(items) / max(len(structure_set.items), 1)
    sun = sum(row["sun"] for row in report.per_structure)
    summary["oracle_failures"] = sum(not results[i].ok for i in ids)
    summary["seconds_per_sun"] = (making_seconds + oracle_seconds) / sun if sun else float("inf")
    summary["sun_count"] = sun
    (structure_set.folder / "evaluation.json").write_text(
        json.dumps({"summary": summary, "structures": report.per_structure}, indent=1)
    )
    return report
