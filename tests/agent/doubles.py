"""Test doubles for faults that cannot be arranged with real parts: calculators that kill the
process they run in (as an out-of-memory kill or a segfault in a native library would), hang,
raise or return NaN energies."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones


class DiesOnceEMT(EMT):
    """ASE's EMT, except that the first calculation of each formula SIGKILLs the process running
    it; a marker file in ``marker_dir`` remembers that it happened."""

    def __init__(self, marker_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marker_dir = Path(marker_dir)

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        marker = self.marker_dir / f"died-{atoms.get_chemical_formula()}"
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        super().calculate(atoms, properties, system_changes or ["positions"])


class SlowEMT(EMT):
    """ASE's EMT, ``delay_s`` seconds slower per calculation (a stand-in for a long DFT run)."""

    def __init__(self, delay_s: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        time.sleep(self.delay_s)
        super().calculate(atoms, properties, system_changes or ["positions"])


FAULTS = ("raise", "hang", "nan", "exit", "exit_once", "kill_parent_once")
"""What :class:`FaultyLennardJones` can do to a structure (``"ok"``: nothing)."""


def structure_key(atoms: Atoms) -> str:
    """A fingerprint of the atoms, positions and cell that a calculation starts from."""
    digest = hashlib.sha256(np.asarray(atoms.numbers, dtype=np.int64).tobytes())
    digest.update(np.round(atoms.positions, 6).tobytes())
    digest.update(np.round(atoms.cell.array, 6).tobytes())
    return digest.hexdigest()[:16]


class FaultPlan:
    """Which fault each structure gets, and a log of every calculation, in ``directory``.

    The n-th distinct structure to reach a calculator gets ``plan[n % len(plan)]`` (slots are
    claimed with exclusive file creation, so concurrent processes never share one) and keeps it
    for every later calculation, in any process. Files:

    - ``slots/<n>``: the key of the structure in slot n;
    - ``assigned/<key>``: the structure's fault;
    - ``calls.log``: one line ``<key> <action> <pid>`` per calculation started, where the action
      is the fault, or ``ok`` for a ``*_once`` fault that already happened;
    - ``happened/<key>``: a ``*_once`` fault happened.
    """

    def __init__(self, directory: str | Path, plan: Sequence[str]) -> None:
        unknown = set(plan) - {*FAULTS, "ok"}
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {FAULTS}")
        self.directory = Path(directory)
        self.plan = list(plan)

    def assigned(self, key: str) -> str:
        """The fault of the structure ``key``, claiming the next slot on first sight."""
        path = self.directory / "assigned" / key
        if path.exists():
            return path.read_text()
        slots = self.directory / "slots"
        slots.mkdir(parents=True, exist_ok=True)
        slot = len(os.listdir(slots))
        while True:
            try:
                claim = os.open(slots / f"{slot:06d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                slot += 1
                continue
            os.write(claim, key.encode())
            os.close(claim)
            break
        fault = self.plan[slot % len(self.plan)]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_text(fault)
        path.with_suffix(".tmp").rename(path)
        return fault

    def start(self, key: str) -> str:
        """Log a calculation of ``key`` starting; returns what it must do."""
        action = self.assigned(key)
        if action.endswith("_once"):
            marker = self.directory / "happened" / key
            marker.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                action = "ok"
        with (self.directory / "calls.log").open("a") as log:
            log.write(f"{key} {action} {os.getpid()}\n")
        return action

    def calls(self) -> list[tuple[str, str]]:
        """``(key, action)`` of every calculation logged so far, in order."""
        path = self.directory / "calls.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [tuple(line.split()[:2]) for line in lines]


class FaultyLennardJones(LennardJones):
    """ASE's Lennard-Jones calculator (one ``sigma`` and ``epsilon`` for every element, so any
    crystal can be labeled and every failure is an injected one) that misbehaves on the
    structures its :class:`FaultPlan` says, from the first calculation of each structure:

    - ``raise``: raises ``RuntimeError`` (an oracle exception);
    - ``hang``: sleeps an hour (cut off by the oracle's time limit);
    - ``nan``: returns NaN energies;
    - ``exit`` / ``exit_once``: ends its own process (``os._exit``) every time / once;
    - ``kill_parent_once``: SIGKILLs its parent process once and exits — with process isolation
      the parent is the Ray worker running the oracle task.

    It needs a fresh calculator per structure (the ``ase`` oracle's default), as the structure is
    recognised on a calculator's first calculation.
    """

    def __init__(self, fault_dir: str, plan: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.faults = FaultPlan(fault_dir, plan)
        self.action: str | None = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        if self.action is None:
            self.action = self.faults.start(structure_key(atoms))
            if self.action == "raise":
                raise RuntimeError("injected fault: the calculator raised")
            if self.action == "hang":
                time.sleep(3600)
            if self.action in ("exit", "exit_once"):
                os._exit(3)
            if self.action == "kill_parent_once":
                os.kill(os.getppid(), signal.SIGKILL)
                os._exit(3)
        super().calculate(atoms, properties, system_changes)
        if self.action == "nan":
            self.results["energy"] = float("nan")


def volume_per_atom(structure) -> float:
    """Å³ per atom: a user's quantity (``tests.agent.doubles:volume_per_atom`` in a config)."""
    return structure.volume / len(structure)
