"""``matterloop generator sample`` and ``evaluate`` end to end on a tiny trained model."""

from __future__ import annotations

import json

import pytest
from ase.io import read
from pymatgen.core import Composition

from matterloop.agent.cli import main
from matterloop.generator.training.config import TrainConfig
from matterloop.generator.training.trainer import Trainer
from tests.generator.test_training import TINY


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data_dir, session_cache):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
        output = tmp_path_factory.mktemp("tiny-model")
        config = TrainConfig.model_validate(
            {**TINY, "output_dir": str(output), "data": {**TINY["data"], "data_dir": str(data_dir)}}
        )
        trainer = Trainer(config, progress=False)
        trainer.run()
    return trainer.model_path


def test_sample_writes_cifs_and_extxyz_and_resumes(tiny_model, tmp_path):
    out = tmp_path / "samples"
    base = [
        "generator",
        "sample",
        "--checkpoint",
        str(tiny_model),
        "--steps",
        "4",
        "--batch-size",
        "3",
        "--out",
        str(out),
    ]
    assert main([*base, "--num", "5"]) == 0
    assert sorted(p.name for p in out.glob("*.cif")) == [f"sample_{i:05d}.cif" for i in range(5)]
    frames = read(out / "samples.extxyz", index=":")
    assert len(frames) == 5 and all(f.pbc.all() for f in frames)
    first_written = (out / "sample_00000.cif").stat().st_mtime_ns
    assert main([*base, "--num", "8"]) == 0
    assert len(list(out.glob("*.cif"))) == 8
    assert len(read(out / "samples.extxyz", index=":")) == 8
    assert (out / "sample_00000.cif").stat().st_mtime_ns == first_written


def sample_argv(model, out, *options: str) -> list[str]:
    """``matterloop generator sample`` with a 3-step sampler and further ``options``."""
    return [
        "generator",
        "sample",
        "--checkpoint",
        str(model),
        "--steps",
        "3",
        "--out",
        str(out),
        *options,
    ]


def test_sample_with_fixed_atom_count(tiny_model, tmp_path):
    out = tmp_path / "fixed"
    assert main(sample_argv(tiny_model, out, "--num", "2", "--num-atoms", "4")) == 0
    assert [len(f) for f in read(out / "samples.extxyz", index=":")] == [4, 4]


def test_sample_restricted_to_a_chemical_system(tiny_model, tmp_path):
    out = tmp_path / "fe-o"
    assert main(sample_argv(tiny_model, out, "--num", "3", "--elements", "Fe-O")) == 0
    frames = read(out / "samples.extxyz", index=":")
    assert len(frames) == 3
    assert set().union(*(f.get_chemical_symbols() for f in frames)) <= {"Fe", "O"}


def test_sample_proposes_charge_balanced_compositions_of_a_system(tiny_model, tmp_path):
    out = tmp_path / "fe-o-proposed"
    assert main(sample_argv(tiny_model, out, "--num", "4", "--elements", "Fe-O")) == 0
    frames = read(out / "samples.extxyz", ":")
    formulas = {Composition(f.get_chemical_formula()).reduced_formula for f in frames}
    assert formulas <= {"FeO", "Fe2O3", "FeO2", "FeO3"} and formulas  # Fe²⁺ … Fe⁶⁺ oxides


def test_sample_with_a_fixed_composition(tiny_model, tmp_path, capsys):
    out = tmp_path / "nacl"
    assert main(sample_argv(tiny_model, out, "--num", "3", "--composition", "NaCl")) == 0
    frames = read(out / "samples.extxyz", index=":")
    assert [Composition(f.get_chemical_formula()).reduced_formula for f in frames] == ["NaCl"] * 3
    argv = sample_argv(tiny_model, tmp_path / "bad", "--composition", "NaCl", "--num-atoms", "3")
    assert main(argv) == 2
    assert "3 atoms are not a whole number of NaCl formula units" in capsys.readouterr().err


def test_sample_rejects_bad_arguments(tiny_model, tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        main(["generator", "sample", "--checkpoint", str(tiny_model), "--num", "0", "--out", "x"])
    assert error.value.code == 2
    assert "must be a positive integer" in capsys.readouterr().err
    assert (
        main(["generator", "sample", "--checkpoint", str(tmp_path / "nope.pt"), "--out", "x"]) == 2
    )
    assert "no such checkpoint" in capsys.readouterr().err


def test_evaluate_against_mp20(tiny_model, tmp_path, data_dir, session_cache, monkeypatch, capsys):
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    out = tmp_path / "samples"
    assert main(sample_argv(tiny_model, out, "--num", "4")) == 0
    assert main(["generator", "evaluate", str(out), "--data-dir", str(data_dir)]) == 0
    report = json.loads((out / "evaluation.json").read_text())
    assert report["summary"]["num_structures"] == 4
    assert len(report["structures"]) == 4
    assert {"structurally_valid", "compositionally_valid", "unique", "novel"} <= set(
        report["structures"][0]
    )
    assert "novel_fraction" in capsys.readouterr().out
