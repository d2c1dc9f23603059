"""A real MLflow tracking server on 127.0.0.1, campaign drivers run as ``matterloop run``
processes, and small campaign configs for the agent tests.

Oracle actors and the generator run in Ray worker processes, which inherit this environment: one
OpenMP thread each, and no library reaches for a model hub.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
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


class MlflowServer:
    """A real MLflow tracking server on 127.0.0.1 with its SQLite backend and proxied artifacts
    in ``root``; it can be stopped and started again on the same port and stores."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        """Start the server (returns at once; see :meth:`wait_ready`)."""
        command = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
            "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
            "--artifacts-destination", str(self.root / "artifacts"),
        ]  # fmt: skip
        self.starts += 1
        with (self.root / f"server-{self.starts}.log").open("w") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / f"server-{self.starts}.log").read_text()
                pytest.fail(f"MLflow server did not start: {log}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGKILL the server and its workers at once, as a crash would (SQLite keeps what was
        committed), and wait until the port refuses connections."""
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        deadline = time.monotonic() + 30
        while self.healthy():
            assert time.monotonic() < deadline, f"{self.uri} still answers after its server ended"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """The URI of an MLflow server for the session."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    try:
        server.wait_ready()
        yield server.uri
    finally:
        server.stop()


class Driver:
    """``matterloop run CONFIG`` in a session of its own. :meth:`kill` SIGKILLs every process of
    that session — the driver, its local Ray instance, the Ray workers (each in a process group
    of its own) and their oracle processes — as a crash of the driver's machine would."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "matterloop.agent.cli", "run", str(config)],
                cwd=REPO,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = 300) -> None:
        """Poll ``condition`` every 0.1 s; fail if the driver ends or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            assert self.process.poll() is None, f"driver ended before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {what} within {timeout_s} s:\n{self.output()}"
            time.sleep(0.1)

    def session(self) -> list[int]:
        """The processes of the driver's session still alive, zombies excepted."""
        alive = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
                if os.getsid(int(entry.name)) == self.process.pid and state != "Z":
                    alive.append(int(entry.name))
            except OSError:
                continue
        return alive

    def kill(self) -> None:
        """SIGKILL the session until none of its processes is left."""
        deadline = time.monotonic() + 60
        while pids := self.session():
            assert time.monotonic() < deadline, f"processes {pids} survive SIGKILL"
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        self.process.wait()

    def output(self) -> str:
        return self.log.read_text()


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
        "tracking": {"enabled": False},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def faults_config(directory: Path, fault_dir: Path, plan: list[str], **sections) -> dict:
    """:func:`campaign_config` with the fault-injecting Lennard-Jones oracle of
    :class:`tests.agent.doubles.FaultyLennardJones` (faults as ``plan`` says, recorded in
    ``fault_dir``; 5 s per structure, one retry), minimizing energy per atom and HHI, 16
    candidates a round."""
    oracle = {
        "name": "ase",
        "settings": {
            "calculator": "tests.agent.doubles:FaultyLennardJones",
            "calculator_kwargs": {"fault_dir": str(fault_dir), "plan": plan, "sigma": 1.5},
            "relax": {"fmax": 0.2, "max_steps": 10},
            "robustness": {"isolation": "process", "timeout_s": 5, "max_retries": 1},
        },
    }
    objectives = [
        {"name": "energy_per_atom", "direction": "minimize", "reference": 10.0},
        {"name": "hhi_production", "direction": "minimize", "reference": 10000},
    ]
    generator = {"num_candidates": 16, "batch_size": 16}  # q picks a round even if many go
    sections = {
        "name": "faults",
        "objectives": objectives,
        "constraints": [],
        "generator": generator,
        **sections,
    }
    return campaign_config(directory, oracle=oracle, **sections)


HOLD = """
import sys, time
from pathlib import Path
from matterloop.core.writer_lock import exclusive_writer
with exclusive_writer(Path(sys.argv[1]), directory=sys.argv[2] == "directory"):
    print("locked", flush=True)
    time.sleep(600)
"""


def holder(store: Path, kind: str) -> subprocess.Popen:
    """A process that holds the lock of ``store`` until killed (started once it holds it)."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(store), kind],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
