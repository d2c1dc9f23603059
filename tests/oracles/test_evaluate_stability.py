"""``matterloop generator evaluate --oracle chgnet``: E_hull on the shipped CHGNet hull, RMSD to
the relaxed structure and S.U.N., on MP-20 ground states (stable, but not novel)."""

from __future__ import annotations

import json

import pandas as pd
from pymatgen.core import Structure

from matterloop.agent.cli import main

GROUND_STATES = ["mp-1265", "mp-22862"]  # MgO and NaCl rock salt, DFT E_hull = 0


def test_evaluate_with_an_oracle_reports_stability_and_sun(
    tmp_path, data_dir, session_cache, monkeypatch, capsys
):
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    splits = ("train", "val", "test")
    table = pd.concat(
        pd.read_csv(data_dir / "mp_20" / "structures" / f"{s}.csv.gz") for s in splits
    )
    rows = table[table["material_id"].isin(GROUND_STATES)]
    assert len(rows) == 2
    samples = tmp_path / "samples"
    samples.mkdir()
    for _, row in rows.iterrows():
        Structure.from_str(row["cif"], fmt="cif").to(
            filename=str(samples / f"{row.material_id}.cif")
        )
    settings = tmp_path / "chgnet.yaml"
    settings.write_text("threads: 1\nrobustness: {isolation: inline}\n")
    argv = ["generator", "evaluate", str(samples), "--data-dir", str(data_dir)]
    assert main([*argv, "--oracle", "chgnet", "--oracle-settings", str(settings)]) == 0
    report = json.loads((samples / "evaluation.json").read_text())
    for row in report["structures"]:
        assert abs(row["e_above_hull"]) < 0.02 and row["stable"]
        assert row["rmsd"] < 0.05  # DFT-relaxed inputs barely move under CHGNet
        assert not row["novel"] and not row["sun"]
    assert report["summary"]["stable_fraction"] == 1.0
    assert report["summary"]["sun_fraction"] == 0.0
    assert "sun_fraction" in capsys.readouterr().out
