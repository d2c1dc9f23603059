"""The campaign's work on Ray: generation, oracle evaluations and adapter refits.

- Oracle evaluations run on :class:`OracleWorker` actors, each holding one built oracle (a
  pretrained potential loads once, not per structure). An actor whose process dies is restarted
  and its unfinished task retried (``max_retries``); results stream back as they finish, so the
  driver persists each one the moment it returns.
- Generation and adapter fine-tuning are Ray tasks that may request a GPU.

``connect`` starts a local Ray instance or joins a cluster by address; workers get
``OMP_NUM_THREADS`` (one thread per requested CPU) and ``HF_HUB_OFFLINE`` from the driver.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import ray
from pymatgen.core import Structure
from ray.exceptions import RayError

from agent.campaign.config import RaySettings
from oracles.registry import OracleSpec, oracle_from_spec
from oracles.result import FailureKind, OracleResult, Provenance


def connect(settings: RaySettings) -> None:
    """Start or join Ray (no-op when already connected)."""
    if ray.is_initialized():
        return
    env = {"OMP_NUM_THREADS": str(max(1, math.floor(settings.oracle_cpus)))}
    if "HF_HUB_OFFLINE" in os.environ:
        env["HF_HUB_OFFLINE"] = os.environ["HF_HUB_OFFLINE"]
    ray.init(
        address=settings.address,
        num_cpus=None if settings.address else settings.num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": env},
    )


@ray.remote
class OracleWorker:
    """One oracle, built in the actor's process from its spec."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.oracle = oracle_from_spec(spec)

    def evaluate(self, identifier: str, structure: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        (result,) = self.oracle.evaluate([Structure.from_dict(structure)])
        return identifier, result.to_dict()


class OraclePool:
    """``settings.oracle_workers`` oracle actors, started on first use."""

    def __init__(self, spec: OracleSpec, settings: RaySettings) -> None:
        self.spec = spec
        self.settings = settings
        self.workers: list[Any] = []

    def start(self) -> None:
        if self.workers:
            return
        options = {
            "num_cpus": self.settings.oracle_cpus,
            "max_restarts": -1,
            "max_task_retries": self.settings.max_retries,
        }
        self.workers = [
            OracleWorker.options(**options).remote(self.spec.model_dump())
            for _ in range(self.settings.oracle_workers)
        ]

    def evaluate(
        self, items: Sequence[tuple[str, Structure]]
    ) -> Iterator[tuple[str, OracleResult]]:
        """Yield ``(id, result)`` for each item as soon as its evaluation finishes.

        A task that fails even after its retries (its worker died each time) yields a
        ``worker_crashed`` failure, so every item yields exactly one result.
        """
        if not items:
            return
        self.start()
        pending = {}
        for position, (identifier, structure) in enumerate(items):
            worker = self.workers[position % len(self.workers)]
            pending[worker.evaluate.remote(identifier, structure.as_dict())] = (
                identifier,
                structure,
            )
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            identifier, structure = pending.pop(done[0])
            try:
                returned, data = ray.get(done[0])
                yield returned, OracleResult.from_dict(data)
            except RayError as error:
                yield identifier, crashed(self.spec.name, structure, error)

    def stop(self) -> None:
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []


def crashed(oracle: str, structure: Structure, error: Exception) -> OracleResult:
    reason = f"the Ray worker failed after all retries: {type(error).__name__}: {error}"
    return OracleResult.failed(
        Provenance(oracle, "unknown"), structure, FailureKind.WORKER_CRASHED, reason[:2000]
    )


def remote_call(
    function: Callable[..., Any], *args: Any, num_gpus: float = 0.0, **kwargs: Any
) -> Any:
    """``function(*args, **kwargs)`` run as a Ray task (with ``num_gpus`` GPUs) and awaited."""
    task = ray.remote(num_gpus=num_gpus, max_retries=1)(function)
    return ray.get(task.remote(*args, **kwargs))


def generate_structures(
    model_path: Path | None,
    count: int,
    steps: int,
    conditions: dict[str, Any],
    guidance: float,
    batch_size: int,
    seed: int,
) -> tuple[list[dict[str, Any]], int]:
    """Sample ``count`` structures (as dicts, for transport) and the number the sampler dropped."""
    from generator.guided import generate

    result = generate(
        model_path,
        count,
        steps=steps,
        conditions=conditions or None,
        guidance=guidance,
        batch_size=batch_size,
        seed=seed,
    )
    return [s.as_dict() for s in result.structures], result.num_dropped


def fit_adapters(
    base: Path | None,
    structures: list[dict[str, Any]],
    labels: dict[str, list[float]],
    properties: list[str],
    out: Path,
    steps: int,
    seed: int,
    init_from: Path | None,
) -> Path:
    """Fine-tune adapters on labeled structures (dicts); returns the adapted model file."""
    from generator.guided import finetune_adapters

    return finetune_adapters(
        base,
        [Structure.from_dict(s) for s in structures],
        labels,
        properties,
        out,
        steps=steps,
        seed=seed,
        init_from=init_from,
    )
