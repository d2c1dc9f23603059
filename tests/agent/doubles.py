"""Test doubles for faults that cannot be arranged with real parts: a calculator that kills the
process it runs in (as an out-of-memory kill or a segfault in a native library would)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ase.calculators.emt import EMT


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
