"""Two-fidelity campaigns on a real local Ray instance: CHGNet screens, real GPAW labels the
acquisition's picks among the screened (1–2-atom MP-20 cells, modest cutoff and k-points), a
resume after SIGKILL during a GPAW calculation, ``matterloop confirm``, and E_hull at DFT fidelity
where a GPAW hull holds every phase of a chemical system."""

from __future__ import annotations

import json
import time
import warnings

import pandas as pd
import pytest
from pydantic import ValidationError
from pymatgen.core import Lattice, Structure

from matterloop.agent.campaign.config import CampaignConfig, SlowScreenWarning
from matterloop.agent.campaign.fidelity import CostModel
from matterloop.agent.campaign.labels import (
    campaign_hull,
    campaign_label_table,
    current_e_above_hull,
    stability_note,
)
from matterloop.agent.campaign.store import CampaignStore
from matterloop.agent.cli import main
from matterloop.core.errors import ConfigError
from matterloop.core.results_file import ResultRecord
from matterloop.oracles import CHGNetOracle, GPAWOracle, ReferenceHull
from matterloop.oracles.references import load_hull
from tests.agent.conftest import Driver, campaign_config, write_config

GPAW = {"ecut": 300.0, "kpt_density": 1.5, "hubbard_u": "mp", "robustness": {"timeout_s": 300}}


def two_fidelity_config(directory, **sections) -> dict:
    """Screens 3 of the ≤2-atom MP-20 cells drawn each round with CHGNet (relaxed as
    generated ones would be), and sends 1 to GPAW."""
    chgnet = campaign_config(directory)["oracle"]
    return campaign_config(
        directory,
        screen=chgnet,
        oracle={"name": "gpaw", "settings": GPAW},
        known_structures=None,
        generator={"source": "mp_20", "num_candidates": 256},
        filters={"max_atoms": 2, "min_elements": 2},
        fidelity={"screened": 3, "screen_cost_s": 2, "oracle_cost_s": 20},
        acquisition={"q": 1, "initial_labels": 4},
        budget={"rounds": 2},
        **sections,
    )


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_fidelity_campaign_then_confirm(tmp_path, capsys):
    directory = tmp_path / "campaign"
    config_path = write_config(tmp_path / "c.yaml", two_fidelity_config(directory))
    assert main(["run", str(config_path)]) == 0
    printed = capsys.readouterr().out
    assert "E_hull from the screen (chgnet)" in printed and "not from gpaw" in printed

    store = CampaignStore(directory)
    screened = {r.id: r for r in store.screenings()}
    oracle = store.evaluations()
    for number in (0, 1):
        picks = [p.id for p in store.picks(number)]
        chosen = store.picks(number, "oracle_picks")
        assert len(picks) == 3 and set(picks) <= set(screened)  # every pick screened
        assert len(chosen) == 1 and chosen[0].id in picks  # the acquisition's one goes to GPAW
        # GPAW labels the screen's relaxed geometry, not the pick as drawn
        assert chosen[0].structure == screened[chosen[0].id].result.structure
    assert [e.id for e in oracle] == [store.picks(n, "oracle_picks")[0].id for n in (0, 1)]
    for evaluation in oracle:  # both results stored, each with its fidelity's provenance
        assert evaluation.result.provenance.oracle == "gpaw"
        assert screened[evaluation.id].result.provenance.oracle == "chgnet"
        assert "hubbard_u_applied" in evaluation.result.provenance.settings
    summaries = store.summaries()
    fidelity = summaries[1].fidelity
    assert fidelity["screened"] == 3 and fidelity["sent_to_oracle"] == 1
    assert fidelity["cpu_seconds"]["oracle"] > 0 and fidelity["cpu_seconds"]["screen"] > 0
    errors = fidelity["errors"]["magnetic_density"]
    assert errors["count"] == 1 and errors["mae_screen"] >= 0
    # E_hull is the screen's, on the complete CHGNet hull grown by the screened results
    labels = pd.read_csv(directory / "rounds" / "0001" / "labels.csv").set_index("id")
    hull = load_hull("chgnet")
    for evaluation in oracle:
        screen = screened[evaluation.id].result
        assert labels.loc[evaluation.id, "e_above_hull"] <= hull.e_above_hull_of(screen) + 1e-9

    # the front relabeled by GPAW at a higher cutoff
    confirming = write_config(tmp_path / "gpaw.yaml", {**GPAW, "ecut": 350.0})
    command = ["confirm", str(directory), "--oracle", "gpaw", "--oracle-settings", str(confirming)]
    assert main(command) == 0
    printed = capsys.readouterr().out
    assert "gpaw → gpaw" in printed and "hits" in printed
    confirm = directory / "confirm" / "gpaw"
    first = records(confirm / "results.jsonl")
    front = json.loads((confirm / "confirm.json").read_text())["members"]
    assert sorted(r["id"] for r in first) == sorted(front) and front
    assert all(r["result"]["provenance"]["settings"]["ecut"] == 350.0 for r in first)
    table = pd.read_csv(confirm / "table.csv").set_index("id")
    assert table.loc[front, "ok_confirmed"].all()
    assert (table["magnetic_density_confirmed"] >= 0).all()
    # a rerun resumes: nothing is computed again
    assert main(command) == 0
    assert records(confirm / "results.jsonl") == first
    # other settings for the same folder are refused, naming it
    other = write_config(tmp_path / "other.yaml", {**GPAW, "ecut": 400.0})
    assert main([*command[:-1], str(other)]) == 2
    assert "other settings or members" in capsys.readouterr().err
    # a confirming oracle that lacks a campaign quantity is refused
    assert main([*command[:2], "--oracle", "nonexistent"]) == 2
    assert "--oracle nonexistent" in capsys.readouterr().err
    assert main(["report", str(directory)]) == 0
    assert "Front confirmed by gpaw" in (directory / "report.html").read_text()


def test_resume_after_sigkill_during_gpaw_repeats_only_that_calculation(tmp_path):
    directory = tmp_path / "campaign"
    config_path = write_config(tmp_path / "c.yaml", two_fidelity_config(directory))
    driver = Driver(config_path, tmp_path / "first.log")
    chosen = directory / "rounds" / "0000" / "oracle_picks.json"
    try:
        driver.wait_for(chosen.exists, "the oracle's picks of round 0")
        time.sleep(1.0)  # GPAW is now working on the pick
        assert records(directory / "results.jsonl") == []  # its result not in yet
    finally:
        driver.kill()
    screened_before = records(directory / "screen.jsonl")
    assert len(screened_before) == 3

    resumed = Driver(config_path, tmp_path / "second.log")
    assert resumed.process.wait(timeout=600) == 0, resumed.output()
    store = CampaignStore(directory)
    screened_after = records(directory / "screen.jsonl")
    assert screened_after[:3] == screened_before  # no screen result repeated or lost
    assert len(screened_after) == 6
    ids = [r["id"] for r in records(directory / "results.jsonl")]
    assert ids == [store.picks(n, "oracle_picks")[0].id for n in (0, 1)]  # each GPAW call once
    assert json.loads(chosen.read_text())["picks"][0]["id"] == ids[0]


def test_cost_model_fits_a_power_law_and_assumes_until_measured() -> None:
    atoms = [2, 4, 8, 16]
    seconds = [3.0 * n**3 for n in atoms]
    fitted = CostModel.fit(atoms, seconds, assumed=600.0, min_timings=3)
    assert fitted.exponent == pytest.approx(3.0) and fitted.prefactor == pytest.approx(3.0)
    assert fitted.predict([10])[0] == pytest.approx(3000.0)
    early = CostModel.fit(atoms[:2], seconds[:2], assumed=600.0, min_timings=3)
    assert early.predict([2, 16]).tolist() == [600.0, 600.0] and early.measured == 0
    same_size = CostModel.fit([4, 4, 4], [10.0, 20.0, 40.0], assumed=1.0, min_timings=3)
    assert same_size.exponent == 0 and same_size.predict([8])[0] == pytest.approx(20.0)


def test_bad_two_fidelity_configs(tmp_path) -> None:
    good = two_fidelity_config(tmp_path / "c")
    CampaignConfig.model_validate(good)
    # the expensive oracle must give the objective (CHGNet screens bulk moduli, GPAW does not)
    bulk = {
        **good,
        "screen": {"name": "chgnet", "settings": {"bulk_modulus": True, "relax": {}}},
        "objectives": [{"name": "bulk_modulus", "direction": "maximize", "reference": 0}],
    }
    with pytest.raises(ValidationError, match=r"bulk_modulus .* is not provided by oracle 'gpaw'"):
        CampaignConfig.model_validate(bulk)
    with pytest.raises(ValidationError, match=r"fidelity\.oracle_cost_s"):
        CampaignConfig.model_validate({**good, "fidelity": {"oracle_cost_s": -5}})
    with pytest.raises(ValidationError, match=r"fidelity.screened \(1\) must be at least"):
        CampaignConfig.model_validate(
            {**good, "fidelity": {"screened": 1}, "acquisition": {"q": 2}}
        )
    with pytest.raises(ValidationError, match=r"screen: .*nonsense"):
        CampaignConfig.model_validate({**good, "screen": {"name": "nonsense"}})
    slow = {**good, "fidelity": {"screen_cost_s": 900, "oracle_cost_s": 600}}
    with pytest.warns(SlowScreenWarning, match="no cheaper than the oracle"):
        CampaignConfig.model_validate(slow)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowScreenWarning)
        CampaignConfig.model_validate(good)
    # a shipped hull of neither fidelity
    with pytest.raises(ValidationError, match="hull"):
        CampaignConfig.model_validate({**good, "screen": {"name": "sevennet"}})


def bcc(element: str, a: float) -> Structure:
    return Structure(Lattice.cubic(a), [element, element], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_e_hull_from_the_oracle_where_its_hull_holds_every_phase(tmp_path, data_dir) -> None:
    """MP's hull of Nb-W holds Nb, W and NbW (B2): a GPAW hull of those three gives a GPAW
    result in Nb-W its DFT E_hull; NaCl, outside it, keeps the screen's, and so does NbW on a
    hull of the two elements alone, where it could look stable only for want of competitors."""
    nb, w = bcc("Nb", 3.31).get_primitive_structure(), bcc("W", 3.17).get_primitive_structure()
    b2 = Structure(Lattice.cubic(3.24), ["Nb", "W"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    strained = b2.copy()
    strained.scale_lattice(b2.volume * 1.15)
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0] * 3, [0.5] * 3]
    )
    nacl = nacl.get_primitive_structure()
    with GPAWOracle.from_settings(GPAW) as gpaw:
        references = gpaw.evaluate([nb, w, b2])
        candidates = gpaw.evaluate([strained, nacl])
    assert all(r.ok for r in [*references, *candidates])
    settings = {"threads": 1, "relax": None, "robustness": {"isolation": "inline"}}
    with CHGNetOracle.from_settings(settings) as chgnet:
        screened = chgnet.evaluate([strained, nacl])
    ids = ["r0000-00", "r0000-01"]
    evaluations = [ResultRecord(i, r, 0, "novel") for i, r in zip(ids, candidates, strict=True)]
    screenings = [ResultRecord(i, r, 0, "novel") for i, r in zip(ids, screened, strict=True)]

    def table_with(oracle_hull: ReferenceHull, name: str) -> tuple[pd.DataFrame, str]:
        path = tmp_path / f"{name}.json.gz"
        oracle_hull.save(path)
        config = two_fidelity_config(tmp_path / "c")
        config["filters"]["data_dir"] = str(data_dir)
        config["fidelity"]["oracle_hull"] = str(path)
        config = CampaignConfig.model_validate(config)
        hull = campaign_hull(config)
        table = campaign_label_table(config, hull, evaluations, screenings).set_index("id")
        return table, stability_note(config, hull)

    screen_e_hull = current_e_above_hull(screenings, load_hull("chgnet", data_dir))
    complete = ReferenceHull.from_results(references)
    table, note = table_with(complete, "nb-w")
    assert table.loc[ids[0], "e_hull_from"] == "gpaw"
    dft = complete.e_above_hull(strained.composition, candidates[0].energy_per_atom)
    assert dft > 0.01 and table.loc[ids[0], "e_above_hull"] == pytest.approx(dft)
    assert table.loc[ids[1], "e_hull_from"] == "chgnet"
    assert table.loc[ids[1], "e_above_hull"] == pytest.approx(screen_e_hull[ids[1]])
    assert note.startswith("E_hull from gpaw in Nb-W") and "elsewhere from the screen" in note

    elements_only, note = table_with(ReferenceHull.from_results(references[:2]), "elements")
    assert elements_only["e_hull_from"].tolist() == ["chgnet", "chgnet"]
    assert elements_only.loc[ids[0], "e_above_hull"] == pytest.approx(screen_e_hull[ids[0]])
    assert note.startswith("E_hull from gpaw in Nb, W (")  # the elements alone are covered

    with pytest.raises(ConfigError, match=r"holds the energies of chgnet.*not of the oracle gpaw"):
        table_with(ReferenceHull.from_results(screened), "chgnet")
    single = campaign_config(tmp_path / "s", fidelity={"oracle_hull": "hull.json.gz"})
    with pytest.raises(ValidationError, match="only a two-fidelity campaign"):
        CampaignConfig.model_validate(single)
