"""Canonical cells and the Structure -> tensors -> Structure round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from matterloop.data import (
    canonicalize,
    collate,
    load_dataset_split,
    structure_to_tensors,
)
from matterloop.data.paths import split_path
from matterloop.data.readers import iter_raw_crystals, parse_cif
from matterloop.data.records import SkipReport

MATCHER = StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)


def test_canonical_cell_is_primitive_niggli_and_right_handed(rocksalt):
    left_handed = Structure(
        Lattice(-rocksalt.lattice.matrix), rocksalt.species, -rocksalt.frac_coords
    )
    assert np.linalg.det(left_handed.lattice.matrix) < 0
    cell = canonicalize(left_handed)
    assert len(cell) == 2
    assert np.linalg.det(cell.lattice.matrix) > 0
    assert np.all((cell.frac_coords >= 0) & (cell.frac_coords < 1))
    assert cell.lattice.abc == pytest.approx(cell.lattice.get_niggli_reduced_lattice().abc)
    assert MATCHER.fit(cell, rocksalt)


def test_canonicalization_keeps_a_distorted_supercell_intact():
    """A supercell whose halves differ by 0.05 Å is not a supercell: its atoms must stay."""
    base = Structure(Lattice.cubic(3.0), ["Fe"], [[0, 0, 0]])
    supercell = base * (2, 1, 1)
    supercell.translate_sites([1], [0.05 / 6.0, 0, 0])
    assert len(canonicalize(supercell)) == 2
    assert len(canonicalize(base * (2, 1, 1))) == 1


def test_round_trip_through_tensors_matches_mp20_structures(data_dir, session_cache):
    dataset = load_dataset_split(
        "mp_20", "train", data_dir, cache_dir=session_cache, progress=False
    )
    indices = range(0, len(dataset), len(dataset) // 60)
    originals = [dataset.structure(i) for i in indices]
    batch = collate([structure_to_tensors(s) for s in originals])
    rebuilt = batch.to_structures()
    assert len(rebuilt) == len(originals)
    for original, structure in zip(originals, rebuilt, strict=True):
        assert MATCHER.fit(original, structure), original.formula


def test_dataset_items_are_canonical_and_match_the_source_cif(data_dir, session_cache):
    dataset = load_dataset_split(
        "mp_20", "train", data_dir, cache_dir=session_cache, progress=False
    )
    raws = list(iter_raw_crystals([split_path("mp_20", "train", data_dir)], SkipReport("train")))
    for index in range(0, 2000, 97):
        assert raws[index].identifier == dataset.material_ids[index]
        assert MATCHER.fit(parse_cif(raws[index].cif), dataset.structure(index))


def test_collate_shapes_and_missing_properties(silicon, rocksalt):
    items = [
        structure_to_tensors(silicon, {"band_gap": 0.6}),
        structure_to_tensors(rocksalt, {"mag_density": 0.0}),
    ]
    batch = collate(items)
    assert batch.num_crystals == 2
    assert batch.atomic_numbers.shape == (10,)
    assert batch.frac_coords.shape == (10, 3)
    assert batch.lattice.shape == (2, 3, 3)
    assert batch.num_atoms.tolist() == [2, 8]
    assert batch.batch.tolist() == [0, 0] + [1] * 8
    assert batch.properties["band_gap"][0].item() == pytest.approx(0.6)
    assert math.isnan(batch.properties["band_gap"][1].item())
    assert math.isnan(batch.properties["mag_density"][0].item())
    assert batch.to("cpu").lattice.dtype == torch.float32


def test_collate_rejects_empty_input():
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_tensors_refuse_partial_occupancy():
    disordered = Structure(Lattice.cubic(3), [{"Fe": 0.5, "Co": 0.5}], [[0, 0, 0]])
    with pytest.raises(ValueError, match="partially occupied"):
        structure_to_tensors(disordered)
