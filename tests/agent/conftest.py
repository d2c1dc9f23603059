"""A real MLflow tracking server on 127.0.0.1 and small campaign configs for the agent tests.

Oracle actors and the generator run in Ray worker processes, which inherit this environment: one
OpenMP thread each, and no library reaches for a model hub.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """The URI of an MLflow server (SQLite backend, proxied artifacts) for the session."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    log = (root / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"MLflow server did not start: {(root / 'server.log').read_text()}")
                time.sleep(1)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def campaign_config(directory: Path, **sections) -> dict:
    """A campaign small enough for a test: CHGNet with short relaxations, 8 candidates from the
    shipped generator at 20 steps, 2 picks a round."""
    config = {
        "name": "test-campaign",
        "directory": str(directory),
        "seed": 0,
        "objectives": [
            {"name": "magnetic_density", "direction": "maximize", "reference": 0.0},
            {"name": "hhi_production", "direction": "minimize", "reference": 10000},
        ],
        "constraints": [{"name": "e_above_hull", "max": 0.1}],
        "oracle": {
            "name": "chgnet",
            "settings": {
                "threads": 1,
                "relax": {"fmax": 0.2, "max_steps": 10},
                "robustness": {"isolation": "inline"},
            },
        },
        "generator": {"num_candidates": 8, "steps": 20, "batch_size": 8},
        "acquisition": {"q": 2, "initial_labels": 4},
        "filters": {"novelty_reference": None},
        "budget": {"rounds": 3},
        "ray": {"num_cpus": 2},
        "mlflow": {"enabled": False},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
