"""The campaign's label table: novelty judged after relaxation (real CHGNet, the 20,666 MP-20
structures), hits, and E_hull on a hull that grows with the campaign's results."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.labels import campaign_hull, judge_novelty, label_table
from matterloop.core.results_file import ResultRecord
from matterloop.generator.evaluation import load_reference
from matterloop.oracles import CHGNetOracle, OracleResult, Provenance, ReferenceHull

OBJECTIVES = [{"name": "energy_per_atom", "direction": "minimize", "reference": 0.0}]


def campaign(tmp_path, data_dir, hull: str = "chgnet") -> CampaignConfig:
    """Minimize energy per atom (no goal) with E_hull ≤ 0.1 eV/atom."""
    return CampaignConfig.model_validate(
        {
            "name": "labels",
            "directory": str(tmp_path),
            "objectives": OBJECTIVES,
            "constraints": [{"name": "e_above_hull", "max": 0.1}],
            "hull": hull,
            "filters": {"data_dir": str(data_dir)},
        }
    )


def test_a_rattled_rock_salt_is_known_after_relaxation_and_not_a_hit(
    tmp_path, data_dir, session_cache, monkeypatch
) -> None:
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    rattled = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.9), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    rattled.perturb(0.25, min_distance=0.1, seed=np.random.default_rng(0))
    settings = {"threads": 1, "robustness": {"isolation": "inline"}}
    with CHGNetOracle.from_settings(settings) as oracle:
        (result,) = oracle.evaluate([rattled])
    assert result.converged
    reference = load_reference("mp_20", data_dir)

    novelty = judge_novelty(result, reference, earlier=[])
    assert novelty == "known"  # it relaxed into MP-20's rock salt
    assert judge_novelty(result, None, earlier=[result.structure]) == "repeat"
    assert judge_novelty(result, None, earlier=[]) == "novel"

    config = campaign(tmp_path, data_dir)
    evaluations = [
        ResultRecord("r0000-00", result, 0, novelty),
        ResultRecord("r0000-01", result, 0, "novel"),  # the same label, as if judged novel
    ]
    known, as_if_novel = label_table(evaluations, config, campaign_hull(config)).to_dict("records")
    assert known["feasible"] and known["stable"] and abs(known["e_above_hull"]) < 0.05
    assert known["novelty"] == "known" and not known["novel"] and not known["hit"]
    assert as_if_novel["hit"]


def fake_result(formula: str, energy_per_atom: float) -> OracleResult:
    """A labeled result of a one-cell ``formula`` at ``energy_per_atom`` (eV/atom), as from the
    oracle ``chgnet (test)``: the energies are test data, the placing on hulls is real."""
    structure = Structure(
        Lattice.cubic(4.0),
        ["Fe", "O", "O"] if formula == "FeO2" else ["Fe", "O"],
        [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]][: 3 if formula == "FeO2" else 2],
    )
    return OracleResult(
        Provenance("chgnet", "test"),
        structure,
        structure,
        energy=energy_per_atom * len(structure),
        energy_per_atom=energy_per_atom,
    )


def test_e_above_hull_is_measured_against_the_campaigns_lower_results(tmp_path, data_dir):
    hull = ReferenceHull(
        {"Fe": -8.0, "O2": -5.0, "FeO": -7.0}, source="chgnet (test)", energy_kind="total"
    )
    path = tmp_path / "hull.json.gz"
    hull.save(path)
    config = campaign(tmp_path, data_dir, hull=str(path))
    first = ResultRecord("r0000-00", fake_result("FeO2", -7.3), 0, "novel")
    second = ResultRecord("r0001-00", fake_result("FeO2", -7.5), 1, "novel")

    (alone,) = label_table([first], config, campaign_hull(config)).to_dict("records")
    assert alone["e_above_hull"] < 0 and alone["hit"]  # below the reference hull, for now

    higher, lower = label_table([first, second], config, campaign_hull(config)).to_dict("records")
    assert higher["e_above_hull"] == pytest.approx(0.2)  # measured against the lower one
    assert not higher["stable"] and not higher["feasible"] and not higher["hit"]
    assert lower["e_above_hull"] == pytest.approx(-0.2) and lower["hit"]


def test_a_campaign_cannot_put_another_footing_on_a_shipped_hull(tmp_path, data_dir) -> None:
    with pytest.raises(ValueError, match="stand on another energy footing"):
        CampaignConfig.model_validate(
            {
                "name": "mixed",
                "objectives": OBJECTIVES,
                "constraints": [{"name": "e_above_hull", "max": 0.1}],
                "oracle": {"name": "sevennet"},
                "hull": "chgnet",
            }
        )
