"""``matterloop generator finetune`` and ``generator sample --condition`` end to end."""

from __future__ import annotations

from ase.io import read, write
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matterloop.agent.cli import main
from matterloop.generator.conditioning import AdaptedGenerator


def test_finetune_then_sample_with_conditions(
    tiny_generator, labeled_structures, tmp_path, capsys
) -> None:
    structures, labels = labeled_structures
    frames = [AseAtomsAdaptor.get_atoms(s) for s in structures]
    for atoms, value in zip(frames, labels["mag_density"], strict=True):
        atoms.info["mag_density"] = value
    write(tmp_path / "labels.extxyz", frames, format="extxyz")
    base, adapted = tmp_path / "base.pt", tmp_path / "adapted.pt"
    tiny_generator.save(base)
    finetune = ["generator", "finetune", "--base", str(base), "--labels"]
    finetune += [str(tmp_path / "labels.extxyz"), "--steps", "3", "--out", str(adapted)]
    assert main([*finetune, "--property", "mag_density", "--property", "chemical_system"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "fine-tuned magnetic_density, chemical_system on 16 structures" in printed
    specs = AdaptedGenerator.load(adapted).model.specs
    assert list(specs) == ["magnetic_density", "chemical_system"]  # the alias's canonical name

    out = tmp_path / "samples"
    sample = ["generator", "sample", "--checkpoint", str(adapted), "--steps", "3", "--num", "4"]
    sample += ["--batch-size", "3", "--out", str(out), "--guidance", "2"]
    conditions = ["--condition", "mag_density>0.15", "--condition", "chemical_system=Fe-O"]
    assert main([*sample, *conditions]) == 0
    frames = read(out / "samples.extxyz", index=":")
    assert len(frames) == 4
    assert all(f.info["target_chemical_system"] == "Fe-O" for f in frames)
    assert all(f.info["target_magnetic_density"] >= 0.15 for f in frames)
    printed = " ".join(capsys.readouterr().out.split())
    assert "0 diverged crystals dropped" in printed
    assert "targets magnetic_density>0.15, chemical_system=Fe-O" in printed

    errors = {
        "cannot read condition": [*sample, "--condition", "mag_density"],
        "no adapter for 'hhi_production'": [*sample, "--condition", "hhi<1500"],
        "magnetic_density given twice": [*sample, *conditions, "--condition", "magnetic_density=0"],
    }
    for message, argv in errors.items():
        assert main(argv) == 2
        assert message in " ".join(capsys.readouterr().err.split())
    on_base = [*sample, "--checkpoint", str(base), "--condition", "mag_density=0.1"]
    assert main(on_base) == 2
    assert "need an adapted model" in " ".join(capsys.readouterr().err.split())
    assert main([*finetune, "--property", "band_gap"]) == 2
    assert "no labels for property 'band_gap'" in " ".join(capsys.readouterr().err.split())


def test_space_group_condition_keeps_samples_in_the_group(
    tiny_generator, small_structures, tmp_path, capsys
) -> None:
    write(tmp_path / "labels.extxyz", [AseAtomsAdaptor.get_atoms(s) for s in small_structures])
    base, adapted = tmp_path / "base.pt", tmp_path / "adapted.pt"
    tiny_generator.save(base)
    finetune = ["generator", "finetune", "--base", str(base), "--labels"]
    finetune += [str(tmp_path / "labels.extxyz"), "--steps", "2", "--out", str(adapted)]
    assert main([*finetune, "--property", "space_group"]) == 0

    sample = ["generator", "sample", "--checkpoint", str(adapted), "--steps", "3", "--num", "3"]
    assert main([*sample, "--out", str(tmp_path / "s"), "--condition", "space_group=221"]) == 0
    for atoms in read(tmp_path / "s" / "samples.extxyz", index=":"):
        structure = AseAtomsAdaptor.get_structure(atoms)
        assert len(structure) == 2  # CsCl's Wyckoff positions 1a and 1b
        assert SpacegroupAnalyzer(structure, symprec=1e-3).get_space_group_number() in (221, 229)

    missing = [*sample, "--out", str(tmp_path / "m"), "--condition", "space_group=62"]
    assert main(missing) == 2
    assert "no template of space group 62" in " ".join(capsys.readouterr().err.split())
    assert main([*missing, "--free-symmetry"]) == 0
