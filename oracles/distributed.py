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
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymatgen.core import Structure

from matterloop.core.errors import MatterloopError
from matterloop.core.result import FailureKind, OracleResult, Provenance
from matterloop.oracles.properties import evaluate_checked
from matterloop.oracles.protocol import Oracle
from matterloop.oracles.registry import OracleSpec, build_oracle

WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One BLAS/OpenMP thread per task: Ray runs one task per CPU it was given."""
CONNECT_TIMEOUT_S = 30.0
"""Seconds to wait for a Ray cluster's address to answer before giving up."""


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


class ClusterUnreachableError(MatterloopError):
    """No Ray cluster answers at the given address."""


def check_cluster_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast where no Ray cluster listens at ``address`` (``host:port`` of the head's GCS,
    or ``ray://host:port`` of Ray Client): Ray itself waits for a missing head for many
    minutes. ``"auto"`` and addresses without a port are left to Ray. Only that something
    accepts connections at the port is checked; a port held by another service passes.

    Raises:
        ClusterUnreachableError: nothing accepts a TCP connection there within ``timeout_s``.
    """
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else error.strerror or str(error)
        raise ClusterUnreachableError(
            f"no Ray cluster answers at {address} ({reason}; waited up to {timeout_s:g} s). "
            "Check the host and port (the head's GCS port, 6379 by default; ray://host:10001 "
            "for Ray Client), that `ray start --head` runs there and that no firewall blocks "
            "it; or give no address for a local Ray instance"
        ) from error


def init_ray(address: str | None, timeout_s: float = CONNECT_TIMEOUT_S, **options: Any) -> None:
    """``ray.init`` after :func:`check_cluster_address`; Ray's own refusal to connect (an
    ``"auto"`` address with no cluster) becomes :class:`ClusterUnreachableError` too."""
    import ray

    if address is not None:
        check_cluster_address(address, timeout_s)
    try:
        ray.init(address=address, **options)
    except ConnectionError as error:
        raise ClusterUnreachableError(
            f"cannot join the Ray cluster at {address}: {error}"
        ) from error


@contextmanager
def ray_session(
    workers: int, address: str | None = None, timeout_s: float = CONNECT_TIMEOUT_S
) -> Iterator[None]:
    """A local Ray instance with ``workers`` CPUs, or a connection to the cluster at
    ``address`` (see :func:`init_ray`); shut down on exit."""
    import ray

    init_ray(
        address,
        timeout_s,
        num_cpus=workers if address is None else None,
        runtime_env={"env_vars": WORKER_ENV},
        log_to_driver=False,
        include_dashboard=False,
    )
    try:
        yield
    finally:
        ray.shutdown()


def label_chunks(
    chunks: Sequence[Chunk], max_retries: int = 2, num_cpus: float = 1.0
) -> Iterator[tuple[Chunk, list[OracleResult] | str]]:
    """Submit every chunk (within a :func:`ray_session`) and yield each as its task ends, with
    its results in order, or the error that ended the task after ``max_retries`` retries.
    Each task requests ``num_cpus`` CPUs."""
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
