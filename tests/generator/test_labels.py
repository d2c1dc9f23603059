"""Labeled structures from a named dataset, joined with a campaign's own labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matterloop.data.hhi import HHIError, hhi_production
from matterloop.data.labels import dataset_labeled_structures, merge_labeled
from matterloop.data.properties import ConditionError


def production_hhi(structure: Structure) -> float:
    try:
        return hhi_production(structure)
    except HHIError:
        return math.nan


def test_mp20_labels_join_campaign_labels_under_their_aliases(data_dir):
    structures, labels = dataset_labeled_structures("mp_20", limit=20, seed=3, data_dir=data_dir)
    assert len(structures) == 20
    assert {"dft_mag_density", "formation_energy_per_atom", "band_gap"} <= set(labels)
    again, _ = dataset_labeled_structures("mp_20", limit=20, seed=3, data_dir=data_dir)
    assert [s.composition for s in again] == [s.composition for s in structures]
    other, _ = dataset_labeled_structures("mp_20", limit=20, seed=4, data_dir=data_dir)
    assert [s.composition for s in other] != [s.composition for s in structures]

    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    campaign = ([iron], {"magnetic_density": [0.1], "hhi_production": [1234.0]})
    properties = ["magnetic_density", "hhi_production", "chemical_system"]
    joined, joined_labels = merge_labeled([campaign, ([], {}), (structures, labels)], properties)

    assert joined == [iron, *structures]
    assert set(joined_labels) == {"magnetic_density", "hhi_production"}  # chemsys: from structures
    magnetic = joined_labels["magnetic_density"]
    assert magnetic[0] == 0.1
    np.testing.assert_array_equal(magnetic[1:], labels["dft_mag_density"])
    assert joined_labels["hhi_production"][0] == 1234.0
    computed = joined_labels["hhi_production"][1:]
    assert sum(math.isfinite(h) for h in computed) >= 15  # nan: an element without an HHI entry
    np.testing.assert_allclose(computed, [production_hhi(s) for s in structures], equal_nan=True)


def test_a_source_without_labels_for_a_scalar_is_named():
    iron = Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    message = r"no labels for property 'band_gap' \(labels given: magnetic_density\)"
    with pytest.raises(ConditionError, match=message):
        merge_labeled([([iron], {"magnetic_density": [0.1]})], ["band_gap"])
