"""Fixtures: a few MP-20 crystals, a tiny trained TensorNet and a surrogate fitted on it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from pymatgen.core import Structure

from matterloop.data import load_dataset_split
from matterloop.data.hhi import HHIError, hhi_production
from matterloop.surrogates.config import HeadConfig, NetworkConfig, TrainingConfig
from matterloop.surrogates.network import build_network, train_network
from matterloop.surrogates.surrogate import Surrogate

TARGETS = ("formation_energy_per_atom", "magnetic_density")  # MP-20: dft_mag_density
NUM_TRAIN, NUM_LABELED, NUM_CANDIDATES = 100, 60, 40


@dataclass
class Crystals:
    structures: list[Structure]
    labels: np.ndarray  # (n, T)

    def slice(self, start: int, stop: int) -> Crystals:
        return Crystals(self.structures[start:stop], self.labels[start:stop])

    def label_dict(self) -> dict[str, np.ndarray]:
        return {t: self.labels[:, i] for i, t in enumerate(TARGETS)}


def has_hhi(structure: Structure) -> bool:
    try:
        hhi_production(structure)
    except HHIError:
        return False
    return True


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """GP fitting runs many small linear-algebra calls: one thread is fastest on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def crystals(data_dir, session_cache) -> Crystals:
    """MP-20 training crystals with a defined HHI, and their two labels."""
    dataset = load_dataset_split(
        "mp_20", "train", data_dir, cache_dir=session_cache, progress=False
    )
    rows = [i for i in range(400) if has_hhi(dataset.structure(i))]
    needed = NUM_TRAIN + NUM_LABELED + NUM_CANDIDATES
    assert len(rows) >= needed
    rows = rows[:needed]
    labels = np.stack([dataset.property(t)[rows] for t in TARGETS], axis=-1)
    return Crystals([dataset.structure(i) for i in rows], labels)


@pytest.fixture(scope="session")
def network(crystals):
    """A tiny TensorNet trained for three epochs on 100 crystals."""
    net = build_network(NetworkConfig(units=16, nblocks=1), len(TARGETS))
    train, val = crystals.slice(0, NUM_TRAIN - 20), crystals.slice(NUM_TRAIN - 20, NUM_TRAIN)
    config = TrainingConfig(epochs=3, batch_size=16, lr=3e-3)
    train_network(
        net, train.structures, train.labels, val.structures, val.labels, config, progress=False
    )
    return net


@pytest.fixture(scope="session")
def labeled(crystals) -> Crystals:
    """Crystals the network did not train on, labeled for the GP heads."""
    return crystals.slice(NUM_TRAIN, NUM_TRAIN + NUM_LABELED)


@pytest.fixture(scope="session")
def candidates(crystals) -> Crystals:
    return crystals.slice(NUM_TRAIN + NUM_LABELED, NUM_TRAIN + NUM_LABELED + NUM_CANDIDATES)


def fitted_surrogate(network, labeled: Crystals) -> Surrogate:
    surrogate = Surrogate(network, TARGETS, HeadConfig(fit_max_iter=100))
    surrogate.add(labeled.structures, labeled.label_dict())
    surrogate.refit()
    return surrogate


@pytest.fixture(scope="session")
def surrogate(network, labeled) -> Surrogate:
    """Fitted on the 60 labeled crystals; tests must not add data to it."""
    return fitted_surrogate(network, labeled)
