"""Campaign configs: valid ones load, bad ones are refused with the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from matterloop.agent.campaign.config import load_campaign_config
from matterloop.agent.cli import main
from matterloop.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
MINIMAL = {
    "name": "t",
    "objectives": [
        {"name": "magnetic_density", "direction": "maximize", "reference": 0.0},
        {"name": "hhi_production", "direction": "minimize", "reference": 10000},
    ],
    "constraints": [{"name": "e_above_hull", "max": 0.1}],
}


def write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("name", ["quickstart.yaml", "magnet_vs_hhi.yaml"])
def test_shipped_configs_load(name):
    config = load_campaign_config(REPO / "configs" / name)
    assert config.modelled == ["magnetic_density", "e_above_hull"]
    assert config.computed == ["hhi_production"]


def test_minimal_config_gets_defaults(tmp_path):
    config = load_campaign_config(write(tmp_path, MINIMAL))
    assert config.oracle.name == "chgnet"
    assert config.acquisition.kind == "qLogNEHVI"
    assert config.campaign_dir == Path("campaigns/t")


def test_tracking_is_also_read_under_its_former_key(tmp_path):
    settings = {"enabled": False, "experiment": "old"}
    config = load_campaign_config(write(tmp_path, {**MINIMAL, "mlflow": settings}))
    assert config.tracking.enabled is False and config.tracking.experiment == "old"
    both = {**MINIMAL, "mlflow": settings, "tracking": settings}
    with pytest.raises(ConfigError, match="mlflow: Extra inputs are not permitted"):
        load_campaign_config(write(tmp_path, both))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"acquisition": {"q": 0}}, "acquisition.q: Input should be greater than 0"),
        ({"objectives": []}, "objectives: Tuple should have at least 1 item"),
        (
            {"objectives": [{"name": "band_gap", "direction": "maximize", "reference": 0}]},
            "objective: band_gap .eV. is not provided by oracle 'chgnet' with these settings",
        ),
        (
            {"objectives": [{"name": "density", "direction": "up", "reference": 0}]},
            "objectives.0.direction: Input should be 'maximize' or 'minimize'",
        ),
        ({"constraints": [{"name": "e_above_hull"}]}, "needs max or min"),
        ({"budget": {"rounds": "many"}}, "budget.rounds: Input should be a valid integer"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        (
            {"generator": {"conditions": {"magnetic_density": 0.1}}},
            "magnetic_density not in adapters.properties",
        ),
        (
            {
                "objectives": [{"name": "density", "direction": "maximize", "reference": 0}],
                "constraints": [],
            },
            "none comes from the oracle",
        ),
        ({"generator": {"source": "mp_20"}}, "needs filters.novelty_reference: null"),
        (
            {"generator": {"source": "oqmd"}, "filters": {"novelty_reference": None}},
            "unknown dataset 'oqmd'",
        ),
        (
            {"adapters": {"properties": ["magnetic_density"], "prior": "mp_21"}},
            "unknown dataset 'mp_21'",
        ),
        ({"adapters": {"prior": "mp_20"}}, "adapters.prior: name the adapters' properties"),
        ({"surrogate": {"prior": "oqmd"}}, "unknown dataset 'oqmd'"),
        (
            {"generator": {"learn_from_labels": {"every": -1}}},
            "generator.learn_from_labels.every: Input should be greater than or equal to 0",
        ),
        (
            {"generator": {"learn_from_labels": {"replay_fraction": 1}}},
            "learn_from_labels.replay_fraction: Input should be less than 1",
        ),
        (
            {
                "generator": {"source": "mp_20", "learn_from_labels": {"every": 1}},
                "filters": {"novelty_reference": None},
            },
            "a campaign that screens a dataset has no generator to fine-tune",
        ),
        ({"surrogate": {"prior_labels": 2}}, "surrogate.prior_labels: Input should be greater"),
        (
            {"surrogate": {"prior": "mp_20", "prior_quantities": ["hhi_production"]}},
            "surrogate.prior_quantities: hhi_production not among the modelled",
        ),
    ],
)
def test_bad_configs_name_the_field(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_campaign_config(write(tmp_path, {**MINIMAL, **change}))


def test_cli_reports_bad_yaml_in_one_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: [unclosed\n")
    assert main(["run", str(path)]) == 2
    error = capsys.readouterr().err
    assert "not valid YAML" in error and "Traceback" not in error


def test_screening_draws_known_structures_per_round(tmp_path, data_dir):
    """``generator.source: mp_20`` (the screening baseline) draws ``num_candidates`` distinct
    MP-20 structures, the same for a round whatever the call, different between rounds."""
    from matterloop.agent.campaign.loop import Campaign

    config = load_campaign_config(
        write(
            tmp_path,
            {
                **MINIMAL,
                "generator": {"source": "mp_20", "num_candidates": 5},
                "filters": {"novelty_reference": None, "data_dir": str(data_dir)},
                "tracking": {"enabled": False},
            },
        )
    )
    campaign = Campaign(config)
    first = campaign.proposer.screened(0)
    again = campaign.proposer.screened(0)
    second = campaign.proposer.screened(1)
    assert len(first) == 5
    assert [s.composition for s in first] == [s.composition for s in again]
    assert [s.composition for s in first] != [s.composition for s in second]
    assert len({(s.composition.formula, round(s.volume, 4)) for s in first}) == 5
