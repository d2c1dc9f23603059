"""``matterloop ui``: the MLflow UI of a campaign's own tracking store, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.cli.ui import is_loopback
from matterloop.core.tracking import local_tracking_uri, tracked_run

REPO_ROOT = Path(__file__).resolve().parents[1]
MATTERLOOP = Path(sys.executable).parent / "matterloop"
START_TIMEOUT_S = 240
"""The server must answer within this time (a few seconds on a free machine)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli_environment() -> dict[str, str]:
    """This environment without an MLflow server of its own, so the campaign's store is used."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    return environment


def make_campaign(directory: Path, **tracking: str) -> dict:
    """A campaign directory started from the quickstart config (``tracking``: settings to
    change)."""
    config = yaml.safe_load((REPO_ROOT / "configs" / "quickstart.yaml").read_text())
    config["tracking"] = {**config["tracking"], **tracking}
    CampaignStore(directory).open(config)
    return config


@pytest.fixture
def campaign(tmp_path: Path) -> Path:
    """A campaign directory whose own store holds one run with one metric."""
    directory = tmp_path / "campaign"
    config = make_campaign(directory)
    uri = local_tracking_uri(directory / "mlruns")
    with tracked_run(config["tracking"]["experiment"], "round-0", tracking_uri=uri) as mlflow:
        mlflow.log_metric("hypervolume", 0.25)
    return directory


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def get_json(url: str, payload: dict | None = None) -> dict:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def stop(process: subprocess.Popen) -> None:
    """Terminate ``process`` and every process of its session (the MLflow server's workers)."""
    family = [psutil.Process(process.pid)] if process.poll() is None else []
    family += [child for member in family for child in member.children(recursive=True)]
    if family:
        os.killpg(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=30)
    for leftover in alive:
        leftover.kill()
    process.wait(timeout=30)


def external_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback ones (e.g. its LAN address)."""
    return [
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET and not is_loopback(a.address)
    ]


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` on this machine."""
    return {
        c.laddr.ip
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def test_ui_serves_the_campaign_store_on_loopback_only(campaign: Path, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "ui.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(MATTERLOOP), "ui", str(campaign), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=cli_environment(),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not answers(port):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        tree = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
        ours = {
            c.laddr.ip
            for p in tree
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        }
        assert ours == {"127.0.0.1"}
        assert listening_addresses(port) == {"127.0.0.1"}

        base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        query = urllib.parse.urlencode({"experiment_name": "quickstart"})
        experiment = get_json(f"{base}/experiments/get-by-name?{query}")["experiment"]
        runs = get_json(f"{base}/runs/search", {"experiment_ids": [experiment["experiment_id"]]})
        (run,) = runs["runs"]
        assert run["info"]["run_name"] == "round-0"
        assert {m["key"]: m["value"] for m in run["data"]["metrics"]} == {"hypervolume": 0.25}

        for address in external_addresses():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=5).close()
    finally:
        stop(process)
    assert f"http://127.0.0.1:{port}/" in log.read_text()


def test_ui_of_a_campaign_logging_to_a_server_points_there(tmp_path: Path) -> None:
    directory = tmp_path / "campaign"
    make_campaign(directory, tracking_uri="http://127.0.0.1:9")
    finished = subprocess.run(
        [str(MATTERLOOP), "ui", str(directory)],
        capture_output=True,
        text=True,
        env=cli_environment(),
        timeout=START_TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 2
    message = " ".join(finished.stderr.split())
    assert "logs to the tracking server http://127.0.0.1:9" in message
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.7", False),
        ("lab-server.example.org", False),
    ],
)
def test_only_loopback_hosts_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
