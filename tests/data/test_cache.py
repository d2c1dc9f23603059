"""The processed-split cache: fast, identical, invalidated by changes, never pickled."""

from __future__ import annotations

import os
import time

import numpy as np

from matterloop.data import load_structures_file
from tests.data.helpers import cif_text, write_csv


def test_second_load_comes_from_cache_and_is_identical(tmp_path, silicon, rocksalt):
    path = write_csv(
        tmp_path / "small.csv",
        [
            {"material_id": f"x{i}", "band_gap": float(i), "cif": cif_text(s)}
            for i, s in enumerate([silicon, rocksalt] * 20)
        ],
    )
    cache = tmp_path / "cache"
    first = load_structures_file(path, cache_dir=cache, progress=False)
    cached_files = list((cache / "processed").glob("small-*.npz"))
    assert len(cached_files) == 1
    np.load(cached_files[0], allow_pickle=False)  # no pickled objects inside
    second = load_structures_file(path, cache_dir=cache, progress=False)
    assert second.material_ids == first.material_ids
    np.testing.assert_array_equal(second.frac_coords, first.frac_coords)
    np.testing.assert_array_equal(second.property_values, first.property_values)
    assert second.skipped.to_dict() == first.skipped.to_dict()


def test_changed_source_is_read_again(tmp_path, silicon, rocksalt):
    path = write_csv(tmp_path / "s.csv", [{"material_id": "a", "cif": cif_text(silicon)}])
    cache = tmp_path / "cache"
    assert load_structures_file(path, cache_dir=cache, progress=False).material_ids == ["a"]
    write_csv(path, [{"material_id": "b", "cif": cif_text(rocksalt)}])
    later = time.time() + 5
    os.utime(path, (later, later))
    assert load_structures_file(path, cache_dir=cache, progress=False).material_ids == ["b"]


def test_cache_can_be_bypassed(tmp_path, silicon):
    path = write_csv(tmp_path / "s.csv", [{"material_id": "a", "cif": cif_text(silicon)}])
    cache = tmp_path / "cache"
    load_structures_file(path, cache_dir=cache, use_cache=False, progress=False)
    assert not cache.exists()
