"""Targets for guided generation that move with the campaign.

A condition ``beyond_front`` on an objective asks the generator for structures past the best
feasible value found so far: the range ``> best + step * spread`` when maximizing (``< best -
step * spread`` when minimizing), with ``spread`` the range of that objective over the labeled
structures (or ``|best|`` when all values are equal), so the targets keep moving as the front
advances. As a range, each sample draws its own target between that bound and the edge of the
adapter's training labels (:mod:`matterloop.generator.conditioning.targets`): a point far past the
labels would ask the adapter to extrapolate, which it does badly. Fixed values and range strings
(``">0.15"``) are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from matterloop.agent.campaign.config import ObjectiveConfig

BEYOND_FRONT = "beyond_front"


def generation_targets(
    conditions: Mapping[str, str | float | int],
    objectives: Sequence[ObjectiveConfig],
    table: pd.DataFrame,
    step: float,
) -> dict[str, str | float | int]:
    """The conditions for this round's generation (empty before any feasible label exists for a
    ``beyond_front`` objective, whose condition is then left out)."""
    by_name = {o.name: o for o in objectives}
    targets: dict[str, str | float | int] = {}
    for name, condition in conditions.items():
        if condition != BEYOND_FRONT:
            targets[name] = condition
            continue
        objective = by_name[name]
        values = table.loc[table["ok"], name].dropna()
        feasible = table.loc[table["feasible"], name].dropna()
        if feasible.empty:
            continue
        best = feasible.max() if objective.direction == "maximize" else feasible.min()
        spread = float(values.max() - values.min()) or abs(float(best))
        bound = float(best + objective.sign * step * spread)
        targets[name] = f"{'>' if objective.direction == 'maximize' else '<'}{bound:.6g}"
    return targets
