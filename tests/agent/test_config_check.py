"""``matterloop config check`` says what code a config would import, before importing it."""

from __future__ import annotations

import pytest

from matterloop.agent.cli import main
from tests.agent.conftest import campaign_config, write_config


@pytest.mark.usefixtures("installed_plugin")
def test_check_lists_plugin_and_function_imports(tmp_path, capsys):
    config = campaign_config(
        tmp_path / "campaign",
        oracle={"name": "example-emt", "settings": {}},
        objectives=[
            {"name": "energy_per_atom", "direction": "minimize", "reference": 10.0},
            {
                "name": "tests.agent.doubles:volume_per_atom",
                "direction": "maximize",
                "reference": 0,
            },
        ],
        constraints=[],
    )
    assert main(["config", "check", str(write_config(tmp_path / "c.yaml", config))]) == 0
    printed = capsys.readouterr().out
    assert "imports and runs this code" in printed
    assert "oracle.name: matterloop_example_oracle:EMTOracle (entry point" in printed
    assert "objectives[1].name: tests.agent.doubles:volume_per_atom" in printed
    assert "valid campaign 'test-campaign'" in printed


def test_imports_are_listed_before_anything_is_imported(tmp_path, capsys):
    config = campaign_config(
        tmp_path / "campaign",
        objectives=[
            {"name": "no_such_package.quantities:score", "direction": "maximize", "reference": 0}
        ],
    )
    assert main(["config", "check", str(write_config(tmp_path / "c.yaml", config))]) == 2
    captured = capsys.readouterr()
    assert "objectives[0].name: no_such_package.quantities:score" in captured.out
    assert "cannot import module 'no_such_package.quantities'" in captured.err


def test_a_plain_config_imports_nothing(tmp_path, capsys):
    config = campaign_config(tmp_path / "campaign", ray={"address": "localhost:6379"})
    assert main(["config", "check", str(write_config(tmp_path / "c.yaml", config))]) == 0
    assert "imports no code beyond matterloop's own" in capsys.readouterr().out
