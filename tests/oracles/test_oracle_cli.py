"""``matterloop oracle run`` and ``list``: results appended as they return, resumed, summarised."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from ase.io import write
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.agent.cli import main
from matterloop.core.writer_lock import exclusive_writer

CHGNET = {"threads": 1, "relax": {"max_steps": 200}, "robustness": {"isolation": "inline"}}
EMT = {"calculator": "ase.calculators.emt:EMT", "robustness": {"isolation": "inline"}}


def settings_file(directory: Path, settings: dict) -> str:
    path = directory / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


def cif(directory: Path, name: str, structure: Structure) -> str:
    path = directory / f"{name}.cif"
    structure.to(filename=str(path))
    return str(path)


def result_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def fcc_cu() -> Structure:
    """Primitive fcc Cu, a = 3.61 Å (1 atom)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]]
    ).get_primitive_structure()


def test_chgnet_run_writes_results_then_resumes(
    tmp_path: Path,
    bcc_fe: Structure,
    diamond_si: Structure,
    rocksalt_nacl: Structure,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "results.jsonl"
    settings = settings_file(tmp_path, CHGNET)
    inputs = [cif(tmp_path, "fe", bcc_fe), cif(tmp_path, "si", diamond_si)]
    run = ["oracle", "run", "--oracle", "chgnet", "--settings", settings, "--out", str(out)]

    assert main([*run, *inputs]) == 0

    first = out.read_text()
    lines = {line["id"]: line["result"] for line in result_lines(out)}
    assert set(lines) == {"fe", "si"}
    assert lines["fe"]["provenance"]["oracle"] == "chgnet"
    assert lines["fe"]["total_magnetization"] > 1.8
    assert abs(lines["si"]["total_magnetization"]) < 0.1
    printed = capsys.readouterr().out
    assert "Fe" in printed and "Si" in printed
    assert "2 results: 2 labeled (2 converged), 0 failed" in printed

    extxyz = tmp_path / "more.extxyz"
    atoms = AseAtomsAdaptor.get_atoms(rocksalt_nacl)
    atoms.info["material_id"] = "nacl"
    write(extxyz, atoms, format="extxyz")
    assert main([*run, *inputs, str(extxyz)]) == 0

    assert out.read_text().startswith(first)
    assert [line["id"] for line in result_lines(out)] == ["fe", "si", "nacl"]
    printed = capsys.readouterr().out
    assert "2 of 3 structures already in" in printed
    assert "3 results: 3 labeled" in printed


def test_line_cut_short_by_an_interruption_is_evaluated_again(
    tmp_path: Path, fcc_cu: Structure, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    run = ["oracle", "run", "--oracle", "ase", "--settings", settings_file(tmp_path, EMT)]
    run += ["--out", str(out)]
    assert main([*run, cif(tmp_path, "cu", fcc_cu)]) == 0
    complete = out.read_text()
    out.write_text(complete + '{"id": "cu2", "result": {"provenance"')

    assert main([*run, str(tmp_path / "cu.cif"), cif(tmp_path, "cu2", fcc_cu)]) == 0

    assert out.read_text().startswith(complete)
    assert [line["id"] for line in result_lines(out)] == ["cu", "cu2"]
    assert "incomplete last line 2 (a killed writer's) removed" in capsys.readouterr().out


def test_failed_structures_are_results(
    tmp_path: Path, fcc_cu: Structure, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {**EMT, "calculator": "tests.oracles.misbehaving:RaisingCalculator"}
    out = tmp_path / "results.jsonl"
    run = ["oracle", "run", "--oracle", "ase", "--settings", settings_file(tmp_path, settings)]

    assert main([*run, "--out", str(out), cif(tmp_path, "cu", fcc_cu)]) == 0

    (line,) = result_lines(out)
    assert line["result"]["failure"]["kind"] == "calculator_error"
    assert "1 failed (1 calculator_error)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--oracle", "no-such-oracle"], "unknown oracle 'no-such-oracle'"),
        (["--settings", "missing.yaml"], "missing.yaml: no such config file"),
        (["missing.cif"], "missing.cif: no such file"),
        (["garbage.cif"], "no structures to evaluate; skipped 1 rows of garbage.cif"),
    ],
)
def test_bad_input_is_a_one_line_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bcc_fe: Structure,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    cif(tmp_path, "fe", bcc_fe)
    (tmp_path / "garbage.cif").write_text("not a CIF\n")
    structures = [] if argv[0].endswith(".cif") else ["fe.cif"]

    assert main(["oracle", "run", *structures, *argv]) == 2

    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1
    assert not (tmp_path / "results.jsonl").exists()


def test_results_of_another_oracle_are_refused(
    tmp_path: Path, fcc_cu: Structure, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    structure = cif(tmp_path, "cu", fcc_cu)
    run = ["oracle", "run", structure, "--out", str(out)]
    assert main([*run, "--oracle", "ase", "--settings", settings_file(tmp_path, EMT)]) == 0

    assert main([*run, "--oracle", "chgnet"]) == 2
    assert "holds results of oracle 'ase', not 'chgnet'" in capsys.readouterr().err


def test_help_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["oracle", "run", "--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    assert all(option in usage for option in ("STRUCTURES", "--oracle", "--settings", "--out"))

    assert main(["oracle", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("chgnet", "sevennet", "gpaw", "ase", "built-in"))


def test_list_reads_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["oracle", "list"]) == 0
    listing = capsys.readouterr().out
    assert all(len(line) <= 80 for line in listing.splitlines()[:-1])  # the legend may wrap
    assert "…" not in listing
    assert all(name in listing for name in ("CHGNetOracle", "SevenNetOracle", "GPAWOracle"))


def test_duplicated_ids_keep_the_first_result_and_are_set_aside(
    tmp_path: Path, fcc_cu: Structure, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    run = ["oracle", "run", "--oracle", "ase", "--settings", settings_file(tmp_path, EMT)]
    run += ["--out", str(out), cif(tmp_path, "cu", fcc_cu)]
    assert main(run) == 0
    (line,) = out.read_text().splitlines()
    out.write_text(f"{line}\n{line}\n")

    assert main(run) == 0
    assert out.read_text() == f"{line}\n"
    assert (tmp_path / "results.duplicates.jsonl").read_text() == f"{line}\n"
    printed = capsys.readouterr().out
    assert "1 later result(s) of ids already recorded (cu) set aside in" in printed
    assert "1 of 1 structures already in" in printed


def test_a_second_writer_of_a_results_file_stops(
    tmp_path: Path, fcc_cu: Structure, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.jsonl"
    run = ["oracle", "run", "--oracle", "ase", "--settings", settings_file(tmp_path, EMT)]
    with exclusive_writer(out):
        assert main([*run, "--out", str(out), cif(tmp_path, "cu", fcc_cu)]) == 2
    assert f"is being written by PID {os.getpid()} on" in capsys.readouterr().err
    assert not out.exists()


def test_oracle_run_and_campaign_results_both_feed_finetuning_and_surrogates(
    tmp_path: Path,
    bcc_fe: Structure,
    diamond_si: Structure,
    rocksalt_nacl: Structure,
    fcc_cu: Structure,
    session_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One results layout: what `oracle run` writes and what a campaign's store writes are both
    labels for `generator finetune --labels` and `surrogate train --labels`, under the
    quantity's name or an alias of it."""
    from matterloop.agent.campaign.store import CampaignStore
    from matterloop.core.results_file import ResultRecord, read_results_file
    from matterloop.generator.conditioning import AdaptedGenerator
    from matterloop.surrogates.surrogate import Surrogate

    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    out = tmp_path / "results.jsonl"
    settings = settings_file(tmp_path, {**CHGNET, "relax": {"max_steps": 20}})
    strained = [fcc_cu.copy() for _ in range(3)]
    for scale, structure in zip((0.97, 1.03, 1.06), strained, strict=True):
        structure.scale_lattice(structure.volume * scale)
    named = {"fe": bcc_fe, "si": diamond_si, "nacl": rocksalt_nacl, "cu": fcc_cu}
    named |= {f"cu{i}": s for i, s in enumerate(strained)}
    inputs = [cif(tmp_path, name, structure) for name, structure in named.items()]
    assert main(["oracle", "run", "--oracle", "chgnet", "--settings", settings, *inputs,
                 "--out", str(out)]) == 0  # fmt: skip
    campaign = CampaignStore(tmp_path / "campaign")
    records, _ = read_results_file(out)
    with campaign.results_journal() as journal:
        for number, record in enumerate(records):
            campaign.record(journal, ResultRecord(f"r0000-{number:02d}", record.result, 0, "novel"))
    assert [r.round for r in campaign.evaluations()] == [0] * len(named)

    surrogate_config = tmp_path / "surrogate.yaml"
    surrogate_config.write_text(
        yaml.safe_dump(
            {
                "name": "from-results",
                "output_dir": str(tmp_path / "surrogate"),
                "data": {"targets": ["dft_mag_density", "energy_per_atom"]},
                "network": {"units": 8, "nblocks": 1},
                "training": {"epochs": 1, "batch_size": 4},
                "tracking": {"enabled": False},
            }
        )
    )
    for labels, name in ((out, "magnetic_density"), (campaign.results_path, "mag_density")):
        adapted = tmp_path / f"{labels.parent.name}.pt"
        finetune = ["generator", "finetune", "--labels", str(labels), "--property", name]
        assert main([*finetune, "--steps", "2", "--out", str(adapted)]) == 0
        model = AdaptedGenerator.load(adapted)
        assert list(model.model.specs) == ["magnetic_density"]  # an alias's canonical name
        assert model.info["labeled"] == {"magnetic_density": len(named)}

        train = ["surrogate", "train", "--config", str(surrogate_config), "--labels", str(labels)]
        assert main(train) == 0
        assert "on magnetic_density 4, energy_per_atom 4 labels" in capsys.readouterr().out
        surrogate = Surrogate.load(tmp_path / "surrogate")
        assert surrogate.targets == ["magnetic_density", "energy_per_atom"]  # alias → canonical

    assert main(["generator", "finetune", "--labels", str(out), "--property", "band_gap",
                 "--steps", "2", "--out", str(tmp_path / "x.pt")]) == 2  # fmt: skip
    assert "no labels for property 'band_gap'" in " ".join(capsys.readouterr().err.split())
    surrogate_config.write_text(surrogate_config.read_text().replace("energy_per_atom", "band_gap"))
    assert (
        main(["surrogate", "train", "--config", str(surrogate_config), "--labels", str(out)]) == 2
    )
    assert "no labels for property 'band_gap'" in " ".join(capsys.readouterr().err.split())
