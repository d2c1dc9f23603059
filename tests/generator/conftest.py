"""Small crystals and batches for the diffusion model tests."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from matterloop.data.tensors import CrystalBatch, collate, structure_to_tensors
from matterloop.generator.model import DiffusionModel, DiffusionModelConfig
from matterloop.generator.network import ScoreNetworkConfig
from matterloop.generator.training.model_io import TrainedGenerator


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


@pytest.fixture
def tiny_generator() -> TrainedGenerator:
    """An untrained 2-block, 16-wide base generator of 1-4 atom cells."""
    torch.manual_seed(0)
    network = ScoreNetworkConfig(hidden_dim=16, num_blocks=2, num_frequencies=4)
    model = DiffusionModel(DiffusionModelConfig(network=network)).eval()
    return TrainedGenerator(model, np.array([0.0, 0.25, 0.25, 0.25, 0.25]))


@pytest.fixture
def labeled_structures() -> tuple[list[Structure], dict[str, list[float]]]:
    """16 two-atom CsCl-type cubic cells (Fe-O, then Li-Cl) with a
    ``mag_density`` label rising with the cell size, one label unknown."""
    structures = [
        Structure(Lattice.cubic(a), ["Fe", "O"] if a < 4.2 else ["Li", "Cl"], [[0] * 3, [0.5] * 3])
        for a in np.linspace(3.0, 4.5, 16)
    ]
    labels = list(np.linspace(0.0, 0.3, 16))
    labels[3] = float("nan")
    return structures, {"mag_density": labels}
