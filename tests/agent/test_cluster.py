"""A multi-node Ray cluster simulated on this machine (``ray.cluster_utils``): a campaign runs on
it by address, and when a node leaves mid-evaluation its work moves to the other nodes and every
structure still gets exactly one result."""

from __future__ import annotations

import subprocess
import sys

import pytest
import ray
from pymatgen.core import Lattice, Structure
from ray.cluster_utils import Cluster

from matterloop.agent.campaign.distributed import MissingGPUError, connect, evaluate_on_ray
from matterloop.agent.campaign.sections import RaySettings
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.cli import main
from matterloop.oracles.registry import OracleSpec
from tests.agent.conftest import REPO, campaign_config, free_port, write_config


@pytest.fixture
def cluster():
    """A head node without CPUs (the driver's) and three one-CPU worker nodes."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(3):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def test_a_campaign_runs_on_the_cluster_by_address(cluster, tmp_path):
    directory = tmp_path / "campaign"
    config = write_config(tmp_path / "c.yaml", campaign_config(directory, budget={"rounds": 1}))
    assert main(["run", str(config), "--ray-address", cluster.address]) == 0
    (summary,) = CampaignStore(directory).summaries()
    assert summary.evaluated == summary.picks > 0


def test_generation_asking_for_gpus_the_cluster_lacks_stops_before_round_one(
    cluster, tmp_path, capsys
):
    """Ray would wait forever for a GPU no node has; the campaign refuses at once."""
    directory = tmp_path / "campaign"
    config = write_config(
        tmp_path / "c.yaml", campaign_config(directory, ray={"generator_gpus": 1})
    )
    assert main(["run", str(config), "--ray-address", cluster.address]) == 2
    assert "ray.generator_gpus is 1, but the Ray cluster has 0 GPUs" in capsys.readouterr().err
    assert not CampaignStore(directory).summaries()
    with pytest.raises(MissingGPUError, match=r"generator_gpus is 0\.5, but the Ray cluster has 0"):
        connect(RaySettings(address=cluster.address, generator_gpus=0.5))


def test_removing_a_node_mid_evaluation_loses_nothing(cluster):
    connect(RaySettings(address=cluster.address))
    spec = OracleSpec(
        name="ase",
        settings={
            "calculator": "tests.agent.doubles:SlowEMT",
            "calculator_kwargs": {"delay_s": 0.3},
            "robustness": {"isolation": "inline"},
            "relax": {"max_steps": 3},
        },
    )
    metals = [("Cu", 3.7), ("Ni", 3.6), ("Pd", 3.95), ("Ag", 4.15), ("Pt", 3.98), ("Au", 4.15)]
    items = [
        (element, Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]]))
        for element, a in metals
    ]
    results = {}
    # Six tasks on three one-CPU nodes: every node is busy when the first result returns.
    for identifier, result in evaluate_on_ray(items, spec, RaySettings(max_retries=3)):
        results[identifier] = result
        if len(results) == 1:
            worker_node = next(n for n in cluster.list_all_nodes() if not n.is_head())
            cluster.remove_node(worker_node, allow_graceful=False)
    assert sorted(results) == sorted(element for element, _ in metals)
    assert all(r.ok for r in results.values()), {k: r.failure for k, r in results.items()}


def test_an_address_where_no_cluster_answers_fails_fast_with_one_line(tmp_path):
    config = write_config(tmp_path / "c.yaml", campaign_config(tmp_path / "campaign"))
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matterloop.agent.cli",
            "run",
            str(config),
            "--ray-address",
            address,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: no Ray cluster answers at {address}")
    assert "ray start --head" in line
