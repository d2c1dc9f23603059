"""Labels a campaign's surrogate starts from: MP-20 structures with their DFT labels."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from matterloop.agent.campaign.prior import prior_labels

QUANTITIES = ["magnetic_density", "e_above_hull", "energy_per_atom"]


def dataset_labels(data_dir) -> pd.DataFrame:
    frames = []
    for split in ("train", "val"):
        with gzip.open(data_dir / "mp_20" / "structures" / f"{split}.csv.gz") as handle:
            frames.append(pd.read_csv(handle, usecols=["formula", "dft_mag_density"]))
    table = pd.concat(frames)
    table["reduced"] = [Composition(f).reduced_formula for f in table["formula"]]
    return table


def test_prior_labels_are_the_datasets_own(data_dir):
    structures, labels = prior_labels("mp_20", QUANTITIES, 60, seed=1, data_dir=data_dir)
    assert labels.shape == (len(structures), 3) and 50 <= len(structures) <= 60
    assert not np.isnan(labels[:, :2]).all(axis=-1).any()  # unlabeled structures are left out
    assert np.isnan(labels[:, 2]).all()  # MP-20 has no oracle energies
    known = labels[~np.isnan(labels[:, 1]), 1]
    assert len(known) > 0 and (known < 0.08).all()  # MP-20: E_hull < 0.08 eV/atom
    table = dataset_labels(data_dir)
    for structure, magnetic in zip(structures[:10], labels[:10, 0], strict=True):
        same = table["reduced"] == structure.composition.reduced_formula
        candidates = table[same]["dft_mag_density"]
        assert np.isclose(candidates.to_numpy(), magnetic, equal_nan=True).any()
    again, repeated = prior_labels("mp_20", QUANTITIES, 60, seed=1, data_dir=data_dir)
    assert [s.composition for s in again] == [s.composition for s in structures]
    np.testing.assert_array_equal(repeated, labels)


def test_quantities_not_learned_stay_unlabeled(data_dir):
    structures, labels = prior_labels(
        "mp_20", QUANTITIES[:2], 60, seed=1, data_dir=data_dir, learned=["magnetic_density"]
    )
    assert np.isnan(labels[:, 1]).all() and not np.isnan(labels[:, 0]).any()
    assert len(structures) == len(labels)
