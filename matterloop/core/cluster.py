"""Starting or joining Ray, in one place: a quick check that a cluster's address answers (Ray
itself waits many minutes for a missing head), and the environment of the worker processes (one
BLAS/OpenMP thread per CPU a task was given; ``HF_HUB_OFFLINE`` passed on).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from matterloop.core.errors import MatterloopError

CONNECT_TIMEOUT_S = 30.0
"""Seconds to wait for a Ray cluster's address to answer before giving up."""
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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


def worker_env(threads: int) -> dict[str, str]:
    """The environment variables of Ray's worker processes: ``threads`` BLAS/OpenMP threads."""
    env = dict.fromkeys(THREAD_VARIABLES, str(max(1, threads)))
    if "HF_HUB_OFFLINE" in os.environ:
        env["HF_HUB_OFFLINE"] = os.environ["HF_HUB_OFFLINE"]
    return env


def start_ray(
    address: str | None,
    num_cpus: float | None = None,
    threads: int = 1,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> None:
    """Start a local Ray instance with ``num_cpus`` CPUs (None: all), or join the cluster at
    ``address`` after :func:`check_cluster_address`; workers get :func:`worker_env`. Ray's own
    refusal to connect (an ``"auto"`` address with no cluster) becomes
    :class:`ClusterUnreachableError` too."""
    import ray

    if address is not None:
        check_cluster_address(address, timeout_s)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            runtime_env={"env_vars": worker_env(threads)},
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except ConnectionError as error:
        raise ClusterUnreachableError(
            f"cannot join the Ray cluster at {address}: {error}"
        ) from error


@contextmanager
def ray_session(
    workers: int, address: str | None = None, timeout_s: float = CONNECT_TIMEOUT_S
) -> Iterator[None]:
    """A local Ray instance with ``workers`` CPUs, or a connection to the cluster at
    ``address`` (see :func:`start_ray`), one thread per task; shut down on exit."""
    import ray

    start_ray(address, workers, 1, timeout_s)
    try:
        yield
    finally:
        ray.shutdown()
