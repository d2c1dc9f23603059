"""Wyckoff arrangements: read off crystals, drawn from a table as often as they occur, placed as
templates, and sampling that starts and stays in their space groups."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matterloop.agent.cli import main
from matterloop.data.tensors import structure_to_tensors
from matterloop.generator.guided import generate_batches
from matterloop.generator.pretrained import default_arrangements
from matterloop.generator.sampling import SamplerConfig
from matterloop.generator.symmetry import ArrangementError, ArrangementTable, WyckoffArrangement
from tests.generator.test_symmetry import rutile

PEROVSKITE = "221:a1.0,b1.1,c3.2"
"""ABX₃ (SrTiO₃): every atom on a special position without free parameters."""
RUTILE = "136:a2.0,f4.1"


def arrangement(key: str) -> WyckoffArrangement:
    return WyckoffArrangement.from_key(key)


def test_the_arrangement_of_a_crystal_has_its_orbits_and_pattern_of_elements() -> None:
    found = WyckoffArrangement.of_crystal(structure_to_tensors(rutile()))
    assert found.key == RUTILE
    assert (found.num_atoms, found.num_elements) == (6, 2)
    assert WyckoffArrangement.from_key(found.key) == found
    perovskite = Structure.from_spacegroup(
        "Pm-3m", Lattice.cubic(3.9), ["Sr", "Ti", "O"], [[0, 0, 0], [0.5] * 3, [0.5, 0.5, 0]]
    )
    assert WyckoffArrangement.of_crystal(structure_to_tensors(perovskite)).key in (
        PEROVSKITE,
        "221:a1.0,b1.1,d3.2",  # the same crystal with the origin on Ti
    )
    with pytest.raises(ArrangementError, match="not a Wyckoff arrangement key"):
        WyckoffArrangement.from_key("225:a")


def test_draws_follow_the_counts_and_the_restrictions(tmp_path) -> None:
    table = ArrangementTable(Counter({arrangement(RUTILE): 3, arrangement(PEROVSKITE): 1}), "t")
    drawn = Counter(a.key for a in table.draw(4000, np.random.default_rng(0)))
    assert drawn[RUTILE] / 4000 == pytest.approx(0.75, abs=0.03)
    rng = np.random.default_rng(1)
    assert {a.key for a in table.draw(50, rng, num_atoms=5)} == {PEROVSKITE}
    assert {a.key for a in table.draw(50, rng, max_elements=2)} == {RUTILE}
    with pytest.raises(ArrangementError, match="has 7 atoms"):
        table.draw(1, rng, num_atoms=7)

    table.save(tmp_path / "table.json.gz")
    loaded = ArrangementTable.load(tmp_path / "table.json.gz")
    assert loaded.arrangements == table.arrangements and list(loaded.counts) == [3, 1]
    (tmp_path / "bad.json.gz").write_text("not gzip")
    with pytest.raises(ArrangementError, match="not a Wyckoff arrangement table"):
        ArrangementTable.load(tmp_path / "bad.json.gz")


@pytest.mark.parametrize("key", [RUTILE, PEROVSKITE, "62:c4.0,c4.1,c4.2", "12:a1.0,i2.1"])
def test_a_placed_template_has_the_arrangements_group_atoms_and_pattern(key: str) -> None:
    template = arrangement(key).template()
    assert template.space_group == arrangement(key).space_group
    assert template.num_atoms == arrangement(key).num_atoms
    assert len(set(template.species.tolist())) == arrangement(key).num_elements


def test_the_shipped_table_is_mp20s_symmetry() -> None:
    table = default_arrangements()
    shares = table.space_group_shares()
    assert int(table.counts.sum()) > 11_000  # MP-20 train + val, 11,620 crystals
    assert shares[1] < 0.03  # 1.3% of MP-20 test is P1, as here
    assert max(shares, key=shares.get) == 225
    assert all(1 <= a.num_atoms <= 20 for a in table.arrangements)


def test_a_placement_is_the_same_for_the_same_seed() -> None:
    """pyxtal draws the free positions of the placement from the seed alone (not from numpy's
    global state or a fresh generator), so templates and the samples made in them repeat from
    run to run."""
    from matterloop.generator.symmetry.arrangements import _placed_template

    _placed_template.cache_clear()
    first = arrangement(RUTILE).template(seed=3)
    _placed_template.cache_clear()
    again = arrangement(RUTILE).template(seed=3)
    assert np.allclose(first.frac_coords.numpy(), again.frac_coords.numpy())


@pytest.mark.parametrize(("key", "groups"), [(PEROVSKITE, {221}), (RUTILE, {136})])
def test_sampling_in_an_arrangement_stays_in_its_group(tiny_generator, key, groups) -> None:
    table = ArrangementTable(Counter({arrangement(key): 1}))
    config = SamplerConfig(num_steps=4)
    batches = generate_batches(tiny_generator, 4, config=config, arrangements=table, batch_size=4)
    structures = [s for result, _ in batches for s in result.structures]
    assert len(structures) == 4
    for structure in structures:
        assert len(structure) == arrangement(key).num_atoms
        assert len(structure.composition.elements) == arrangement(key).num_elements
        assert SpacegroupAnalyzer(structure, symprec=1e-3).get_space_group_number() in groups


def test_the_shipped_table_is_rebuilt_by_the_cli(data_dir, session_cache, monkeypatch, tmp_path):
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    out = tmp_path / "train.json.gz"
    argv = ["data", "arrangements", "mp_20", "--split", "train", "--data-dir", str(data_dir)]
    assert main([*argv, "--out", str(out)]) == 0
    train = ArrangementTable.load(out)
    assert int(train.counts.sum()) == 2573  # every train crystal with positions
    table = default_arrangements()
    shipped = dict(zip(table.arrangements, table.counts, strict=True))
    for found, count in zip(train.arrangements, train.counts, strict=True):
        assert shipped[found] >= count  # the shipped table counts train + val
