"""Reading MP-20-style CSV (both layouts), CIF and extxyz; bad rows are skipped and counted."""

from __future__ import annotations

import math

import pytest
from ase.io import write
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.data import DataError, load_structures_file
from matterloop.data.readers import structure_problem
from tests.data.helpers import cif_text, write_csv

PARTIAL_CIF = """data_partial
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_type_symbol
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe Fe1 0 0 0 0.5
Co Co1 0 0 0 0.5
O O1 0.5 0.5 0.5 1
"""


def load(path, **kwargs):
    return load_structures_file(path, use_cache=False, progress=False, **kwargs)


def test_mp20_layout_reads_labels_and_ids(tmp_path, silicon, rocksalt):
    path = write_csv(
        tmp_path / "train.csv.gz",
        [
            {
                "material_id": "mp-149",
                "formula": "Si",
                "n_atoms": 2,
                "band_gap": 0.61,
                "dft_mag_density": math.nan,
                "spacegroup": 227,
                "cif": cif_text(silicon),
            },
            {
                "material_id": "mp-22862",
                "formula": "NaCl",
                "n_atoms": 8,
                "band_gap": 5.0,
                "dft_mag_density": 0.0,
                "spacegroup": 225,
                "cif": cif_text(rocksalt),
            },
        ],
    )
    dataset = load(path)
    assert dataset.material_ids == ["mp-149", "mp-22862"]
    assert dataset.property_names == ["band_gap", "dft_mag_density", "spacegroup"]
    assert dataset.property("band_gap").tolist() == [0.61, 5.0]
    assert math.isnan(dataset.property("dft_mag_density")[0])
    assert dataset.property("spacegroup").tolist() == [227, 225]
    assert dataset.num_atoms.tolist() == [2, 2], "NaCl is reduced to its primitive cell"
    assert dataset.skipped.total == 0


def test_cdvae_layout_is_understood(tmp_path, silicon):
    path = tmp_path / "val.csv"
    path.write_text(
        ",material_id,formation_energy_per_atom,band_gap,pretty_formula,e_above_hull,"
        "elements,cif,spacegroup.number\n"
        f"0,mp-149,0.0,0.61,Si,0.0,['Si'],\"{cif_text(silicon)}\",227\n"
    )
    dataset = load(path)
    assert dataset.material_ids == ["mp-149"]
    assert set(dataset.property_names) == {
        "formation_energy_per_atom",
        "band_gap",
        "e_above_hull",
        "spacegroup",
    }
    assert dataset.property("spacegroup").tolist() == [227]


def test_bad_rows_are_skipped_and_counted(tmp_path, silicon):
    overlapping = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.01, 0, 0]])
    unsupported = Structure(Lattice.cubic(4.0), ["Am"], [[0, 0, 0]])
    rows = [
        {"material_id": "good", "cif": cif_text(silicon)},
        {"material_id": "garbage", "cif": "data_x\n_cell_length_a oops\nnot a cif"},
        {"material_id": "partial", "cif": PARTIAL_CIF},
        {"material_id": "americium", "cif": cif_text(unsupported)},
        {"material_id": "overlap", "cif": cif_text(overlapping)},
        {"material_id": "empty", "cif": ""},
    ]
    dataset = load(write_csv(tmp_path / "bad.csv", rows))
    assert dataset.material_ids == ["good"]
    counts = dataset.skipped.counts
    assert counts["partial occupancy"] == 1
    assert counts["unsupported element Am"] == 1
    assert counts["overlapping atoms (< 0.5 Å)"] == 1
    assert counts["empty CIF"] == 1
    assert sum(v for k, v in counts.items() if k.startswith("unparsable CIF")) == 1
    summary = dataset.skipped.summary()
    assert summary.startswith("skipped 5 rows of bad.csv")
    assert "partial" in summary and "americium" in summary


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"nowhere\.csv: no such file"):
        load(tmp_path / "nowhere.csv")


def test_wrong_columns_name_the_file_and_the_problem(tmp_path):
    path = write_csv(tmp_path / "labels.csv", [{"material_id": "mp-1", "band_gap": 1.0}])
    with pytest.raises(DataError, match=r"labels\.csv: no 'cif' column \(found: material_id"):
        load(path)


def test_unknown_file_type_is_rejected(tmp_path):
    path = tmp_path / "structure.json"
    path.write_text("{}")
    with pytest.raises(DataError, match=r"structure\.json: unknown file type \.json"):
        load(path)


def test_cif_files_and_directories(tmp_path, silicon, rocksalt):
    (tmp_path / "Si.cif").write_text(cif_text(silicon))
    (tmp_path / "NaCl.cif").write_text(cif_text(rocksalt))
    dataset = load(tmp_path)
    assert dataset.material_ids == ["NaCl", "Si"]
    assert load(tmp_path / "Si.cif").material_ids == ["Si"]


def test_extxyz_frames_carry_numeric_info_as_properties(tmp_path, silicon, rocksalt):
    frames = [AseAtomsAdaptor.get_atoms(s) for s in (silicon, rocksalt)]
    frames[0].info.update(material_id="si", band_gap=0.61, note="text is not a label")
    frames[1].info.update(material_id="nacl", band_gap=5.0)
    write(tmp_path / "set.extxyz", frames, format="extxyz")
    dataset = load(tmp_path / "set.extxyz")
    assert dataset.material_ids == ["si", "nacl"]
    assert dataset.property("band_gap").tolist() == pytest.approx([0.61, 5.0])
    assert "note" not in dataset.property_names


def test_structure_problem_accepts_a_sound_crystal(silicon):
    assert structure_problem(silicon) is None


def test_a_file_without_usable_rows_gives_an_empty_dataset(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [{"material_id": "x", "cif": "not a cif"}])
    dataset = load(path)
    assert len(dataset) == 0 and dataset.frac_coords.shape == (0, 3)
    assert dataset.skipped.total == 1
