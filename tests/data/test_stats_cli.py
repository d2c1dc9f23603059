"""``matterloop data stats`` on MP-20, statistics, and ``--help`` everywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from matterloop.agent.cli import build_parser, main
from matterloop.data import DataError, compute_stats, load_dataset_split

MP20_SPLIT_SIZES = {"train": 2573, "val": 9047, "test": 9046}


def test_data_stats_prints_every_split(data_dir, session_cache, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("MATTERLOOP_CACHE_DIR", str(session_cache))
    report = tmp_path / "stats.json"
    assert main(["data", "stats", "mp_20", "--data-dir", str(data_dir), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    stats = json.loads(report.read_text())
    for split, size in MP20_SPLIT_SIZES.items():
        kept = stats[split]["num_structures"]
        assert kept + stats[split]["num_skipped"] == size
        assert f"{split}: {kept:,} structures" in out
        assert sum(stats[split]["num_atoms_histogram"].values()) == kept
        assert max(int(n) for n in stats[split]["num_atoms_histogram"]) <= 20
        assert stats[split]["mean_atomic_density"] == pytest.approx(0.0577, abs=0.002)
    assert "atoms per cell" in out and "most frequent elements" in out
    assert "mean atomic density" in out


def test_stats_values(data_dir, session_cache):
    dataset = load_dataset_split(
        "mp_20", "train", data_dir, cache_dir=session_cache, progress=False
    )
    stats = compute_stats(dataset)
    volumes = [dataset.structure(i).volume for i in range(len(dataset))]
    assert stats.mean_atomic_density == pytest.approx(np.mean(dataset.num_atoms / volumes))
    assert stats.element_counts["O"] == int((dataset.atomic_numbers == 8).sum())
    assert stats.element_structure_counts["O"] == sum(
        8 in dataset.structure(i).atomic_numbers for i in range(len(dataset))
    )
    probabilities = stats.num_atoms_probabilities(20)
    assert probabilities.shape == (21,) and probabilities.sum() == pytest.approx(1.0)
    gap = stats.property_ranges["band_gap"]
    assert gap.minimum == 0.0 and gap.count == len(dataset)


def test_missing_split_names_the_paths_tried(tmp_path):
    with pytest.raises(
        DataError, match=r"no val split of mp_20 under .*\n.*structures/val\.csv\.gz"
    ):
        load_dataset_split("mp20", "val", tmp_path)


def test_cli_reports_missing_data_without_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "matterloop.agent.cli",
            "data",
            "stats",
            "--split",
            "val",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "error: no val split of mp_20" in result.stderr
    assert "Traceback" not in result.stderr


def subcommand_paths(parser, prefix=()):
    for action in parser._subparsers._group_actions if parser._subparsers else []:
        for name, child in action.choices.items():
            yield (*prefix, name)
            yield from subcommand_paths(child, (*prefix, name))


@pytest.mark.parametrize("path", [(), *subcommand_paths(build_parser())], ids=" ".join)
def test_help_everywhere(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    assert "usage: matterloop" in capsys.readouterr().out
