"""Pareto fronts, hypervolume and the round's targets on hand-made label tables."""

from __future__ import annotations

import pandas as pd
import pytest

from matterloop.agent.campaign.config import ObjectiveConfig
from matterloop.agent.campaign.pareto import front_table, hypervolume, plot_fronts
from matterloop.agent.campaign.targets import generation_targets

OBJECTIVES = (
    ObjectiveConfig(name="magnetic_density", direction="maximize", reference=0.0),
    ObjectiveConfig(name="hhi_production", direction="minimize", reference=10000),
)


def table(rows):
    frame = pd.DataFrame(rows, columns=["id", "round", "magnetic_density", "hhi_production"])
    frame["ok"] = True
    frame["feasible"] = [r[0] != "infeasible" for r in rows]
    frame["novel"] = [r[0] != "b" for r in rows]  # b relaxed into a known structure
    return frame


ROWS = [
    ("a", 0, 0.10, 2000.0),  # on the front
    ("b", 0, 0.05, 1000.0),  # on the front
    ("c", 1, 0.04, 3000.0),  # dominated by a and b
    ("infeasible", 1, 0.50, 500.0),  # would dominate all, but breaks a constraint
]


def test_front_keeps_non_dominated_feasible_rows():
    assert list(front_table(table(ROWS), OBJECTIVES)["id"]) == ["a", "b"]


def test_hypervolume_is_the_dominated_area():
    # Signed points (0.10, -2000) and (0.05, -1000) against (0, -10000):
    # 0.10 * 8000 + 0.05 * (9000 - 8000) = 850.
    assert hypervolume(table(ROWS), OBJECTIVES) == pytest.approx(850.0)
    assert hypervolume(table(ROWS[2:]), OBJECTIVES) == pytest.approx(0.04 * 7000)


def test_hypervolume_is_zero_without_feasible_points_beyond_the_reference():
    assert hypervolume(table(ROWS[3:]), OBJECTIVES) == 0.0
    assert hypervolume(table([("z", 0, -0.1, 100.0)]), OBJECTIVES) == 0.0


def test_one_objective_has_the_length_to_its_best_value_and_a_plot(tmp_path):
    stiffness = (ObjectiveConfig(name="hhi_production", direction="minimize", reference=10000),)
    assert hypervolume(table(ROWS), stiffness) == pytest.approx(10000 - 1000.0)
    assert hypervolume(table(ROWS[3:]), stiffness) == 0.0
    assert list(front_table(table(ROWS), stiffness)["id"]) == ["b"]
    plot_fronts(table(ROWS), stiffness, tmp_path / "one.png", ["HHI"])
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_is_written(tmp_path):
    plot_fronts(table(ROWS), OBJECTIVES, tmp_path / "p.png", ["µB/Å³", "HHI"])
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_targets_move_beyond_the_front():
    targets = generation_targets(
        {"magnetic_density": "beyond_front", "hhi_production": "<1500"},
        OBJECTIVES,
        table(ROWS),
        step=0.5,
    )
    # best feasible 0.10, spread over labeled rows 0.50 - 0.04 = 0.46: anything above 0.33
    assert targets == {"magnetic_density": ">0.33", "hhi_production": "<1500"}
    minimizing = (ObjectiveConfig(name="hhi_production", direction="minimize", reference=1e4),)
    targets = generation_targets(
        {"hhi_production": "beyond_front"}, minimizing, table(ROWS), step=0.5
    )
    assert targets == {"hhi_production": "<-250"}  # best 1000, spread 3000 - 500


def test_beyond_front_waits_for_a_feasible_label():
    targets = generation_targets(
        {"magnetic_density": "beyond_front"}, OBJECTIVES, table(ROWS[3:]), step=0.1
    )
    assert targets == {}
