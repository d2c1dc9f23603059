"""Small crystals and shared oracles for the oracle tests.

Calculations run in child processes, which inherit this environment: one BLAS/OpenMP thread keeps
tiny DFT and ML-potential runs fast and steady on a busy machine, and no library reaches for a
model hub.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matterloop.oracles import CHGNetOracle

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def bcc_fe() -> Structure:
    """Primitive bcc Fe, a = 2.86 Å (1 atom)."""
    return Structure(
        Lattice.from_parameters(*[2.86 * 3**0.5 / 2] * 3, *[109.4712] * 3), ["Fe"], [[0, 0, 0]]
    )


@pytest.fixture
def diamond_si() -> Structure:
    """Primitive diamond Si, a = 5.40 Å (2 atoms; PBE relaxes it to about 5.47 Å)."""
    fcc = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]) * 5.40
    return Structure(Lattice(fcc), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


@pytest.fixture
def rocksalt_nacl() -> Structure:
    """Conventional rock-salt NaCl, a = 5.69 Å (8 atoms)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="session")
def chgnet_oracle() -> Iterator[CHGNetOracle]:
    """One CHGNet oracle (one worker process, model loaded once) for the whole session."""
    with CHGNetOracle.from_settings({"threads": 1, "robustness": {"timeout_s": 300}}) as oracle:
        yield oracle
