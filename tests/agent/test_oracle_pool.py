"""Oracle evaluations on a real local Ray instance: results stream back, a killed worker's task
is retried, and a task that keeps killing its worker ends as a failed result, not a crash."""

from __future__ import annotations

import pytest
import ray
from pymatgen.core import Lattice, Structure

from matterloop.agent.campaign.distributed import connect, evaluate_on_ray
from matterloop.agent.campaign.sections import RaySettings
from matterloop.core.result import FailureKind
from matterloop.oracles.registry import OracleSpec


@pytest.fixture(scope="module")
def local_ray():
    connect(RaySettings(num_cpus=2))
    yield
    ray.shutdown()


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def dying_emt(marker_dir) -> OracleSpec:
    return OracleSpec(
        name="ase",
        settings={
            "calculator": "tests.agent.doubles:DiesOnceEMT",
            "calculator_kwargs": {"marker_dir": str(marker_dir)},
            "robustness": {"isolation": "inline"},
            "relax": {"max_steps": 20},
        },
    )


def test_killed_worker_task_is_retried(local_ray, tmp_path):
    items = [("cu", fcc("Cu", 3.7)), ("ni", fcc("Ni", 3.6))]
    results = dict(evaluate_on_ray(items, dying_emt(tmp_path), RaySettings(max_retries=2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["died-Cu4", "died-Ni4"]
    assert set(results) == {"cu", "ni"}
    assert all(r.ok for r in results.values()), [r.failure for r in results.values()]
    assert results["cu"].structure.lattice.a == pytest.approx(3.59, abs=0.02)  # EMT's Cu


def test_task_that_exhausts_its_retries_becomes_a_failure(local_ray, tmp_path):
    items = [("cu", fcc("Cu", 3.7))]
    ((identifier, result),) = list(
        evaluate_on_ray(items, dying_emt(tmp_path), RaySettings(max_retries=0))
    )
    assert identifier == "cu"
    assert result.failure.kind is FailureKind.WORKER_CRASHED
    assert "after all retries" in result.failure.reason
