"""Label structures with an oracle as Ray tasks, on a local Ray instance or a Ray cluster.

Structures travel in chunks; each task labels one chunk with the oracle built from its name and
settings in the worker (once per worker process and settings, then reused by later tasks). A task
whose worker dies (killed, out of memory) is retried up to ``max_retries`` times; a chunk that
still fails is reported with the error instead of results, and the other chunks go on.

On a cluster every node needs this package and the oracle's dependencies installed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pymatgen.core import Structure

from matterloop.core.result import FailureKind, OracleResult, Provenance
from matterloop.oracles.properties import evaluate_checked
from matterloop.oracles.protocol import Oracle
from matterloop.oracles.registry import OracleSpec, build_oracle


@dataclass(frozen=True)
class Chunk:
    """Structures (by id) that one task labels with the oracle of ``spec``."""

    spec: OracleSpec
    items: tuple[tuple[str, Structure], ...]


def make_chunks(items: Sequence[tuple[str, Structure]], spec: OracleSpec, size: int) -> list[Chunk]:
    """``items`` in chunks of at most ``size``, in order."""
    return [Chunk(spec, tuple(items[i : i + size])) for i in range(0, len(items), size)]


@functools.cache
def worker_oracle(name: str, settings_json: str) -> Oracle:
    """The oracle of this worker process for ``name`` and its settings (JSON), built once."""
    return build_oracle(name, json.loads(settings_json))


def label_chunk(
    name: str, settings_json: str, items: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """The task: ``(id, OracleResult.to_dict())`` for each ``(id, Structure.as_dict())``."""
    oracle = worker_oracle(name, settings_json)
    results = evaluate_checked(oracle, [Structure.from_dict(s) for _, s in items])
    return [(i, r.to_dict()) for (i, _), r in zip(items, results, strict=True)]


def label_chunks(
    chunks: Sequence[Chunk], max_retries: int = 2, num_cpus: float = 1.0
) -> Iterator[tuple[Chunk, list[OracleResult] | str]]:
    """Submit every chunk (within a :func:`~matterloop.core.cluster.ray_session`) and yield each as
    its task ends, with its results in order, or the error that ended the task after ``max_retries``
    retries. Each task requests ``num_cpus`` CPUs."""
    import ray

    task = ray.remote(num_cpus=num_cpus, max_retries=max_retries)(label_chunk)
    running = {
        task.remote(
            chunk.spec.name,
            json.dumps(chunk.spec.settings, sort_keys=True),
            [(i, s.as_dict()) for i, s in chunk.items],
        ): chunk
        for chunk in chunks
    }
    while running:
        (done,), _ = ray.wait(list(running), num_returns=1)
        chunk = running.pop(done)
        try:
            labeled = ray.get(done)
        except ray.exceptions.RayError as error:
            yield chunk, f"{type(error).__name__}: {error}"
        else:
            yield chunk, [OracleResult.from_dict(result) for _, result in labeled]


def crashed(oracle: str, structure: Structure, error: str) -> OracleResult:
    """The failed result of a structure whose Ray task died every time it was tried."""
    reason = f"the Ray task failed after all retries: {error}"
    return OracleResult.failed(
        Provenance(oracle, "unknown"), structure, FailureKind.WORKER_CRASHED, reason[:2000]
    )
