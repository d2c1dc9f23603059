"""Test doubles: ASE calculators that misbehave the way broken user plug-ins do.

Each is a real :class:`ase.calculators.calculator.Calculator` that the generic ``ase`` oracle
builds from a ``"tests.oracles.misbehaving:Name"`` string, in its worker process.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes


class MisbehavingCalculator(Calculator):
    """Zero energy, forces and stress unless a subclass misbehaves in :meth:`misbehave`."""

    implemented_properties = ("energy", "forces", "stress")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": 0.0, "forces": np.zeros((n, 3)), "stress": np.zeros(6)}
        self.misbehave()

    def misbehave(self) -> None:
        """Change ``self.results`` or fail."""


class HangingCalculator(MisbehavingCalculator):
    """Never returns (sleeps far beyond any test's time limit)."""

    def misbehave(self) -> None:
        time.sleep(3600)


class RaisingCalculator(MisbehavingCalculator):
    """Raises as a buggy plug-in would."""

    def misbehave(self) -> None:
        raise RuntimeError("plug-in bug: division by zero in the exchange term")


class NaNCalculator(MisbehavingCalculator):
    """Returns a NaN energy and NaN forces."""

    def misbehave(self) -> None:
        self.results["energy"] = float("nan")
        self.results["forces"][:] = np.nan


class CollapsingCalculator(MisbehavingCalculator):
    """A stiff spring pulling every atom onto atom 0: relaxation drives atoms together."""

    def misbehave(self) -> None:
        delta = self.atoms.positions - self.atoms.positions[0]
        self.results["energy"] = 5.0 * float((delta**2).sum())
        self.results["forces"] = -10.0 * delta


class CrashingCalculator(MisbehavingCalculator):
    """Kills its own process, as a segfault in compiled code would."""

    def misbehave(self) -> None:
        os._exit(3)


class CrashingOnceCalculator(MisbehavingCalculator):
    """Kills its own process on its first calculation in any process (the file ``marker``
    records that it happened), then works: a worker killed once by the machine."""

    def __init__(self, marker: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.marker = Path(marker)

    def misbehave(self) -> None:
        if not self.marker.exists():
            self.marker.touch()
            os._exit(3)


_calls_in_this_process = 0


class FlakyCalculator(MisbehavingCalculator):
    """Fails the first calculation in each process and works afterwards (a transient fault)."""

    def misbehave(self) -> None:
        global _calls_in_this_process
        _calls_in_this_process += 1
        if _calls_in_this_process == 1:
            raise OSError("transient: scratch file system not ready")
