"""Small crystals and batches for the diffusion model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pymatgen.core import Lattice, Structure

from generator.data.tensors import CrystalBatch, collate, structure_to_tensors


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """These tensors are tiny: one intra-op thread is faster than several, and keeps the timings
    steady on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_structures() -> list[Structure]:
    """Primitive NaCl, Si, bcc Fe and CsCl (1-2 atoms each)."""
    fcc = [[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]
    return [
        Structure(
            Lattice(torch.tensor(fcc).mul(5.64).tolist()), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
        ),
        Structure(
            Lattice(torch.tensor(fcc).mul(5.47).tolist()), ["Si", "Si"], [[0] * 3, [0.25] * 3]
        ),
        Structure(
            Lattice.from_parameters(2.48, 2.48, 2.48, 109.47, 109.47, 109.47), ["Fe"], [[0] * 3]
        ),
        Structure(Lattice.cubic(4.12), ["Cs", "Cl"], [[0] * 3, [0.5] * 3]),
    ]


@pytest.fixture
def small_batch(small_structures: list[Structure]) -> CrystalBatch:
    """The small structures plus a 5-atom perovskite-like cell, as one float64 batch."""
    perovskite = Structure(
        Lattice.orthorhombic(3.9, 4.0, 4.1),
        ["Sr", "Ti", "O", "O", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
    )
    structures = [*small_structures, perovskite]
    return collate([structure_to_tensors(s, dtype=torch.float64) for s in structures])
