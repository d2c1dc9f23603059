"""The campaign's labeled data as a table: one row per oracle evaluation.

Columns: ``id``, ``round``, ``formula``, ``ok``, ``failure``, one column per modelled (oracle)
quantity and per computed quantity (NaN where undefined), ``feasible`` (labeled, every objective
defined and every constraint met) and ``hit`` (feasible and every objective goal reached).
Computed quantities are taken on the relaxed structure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from agent.campaign.config import CampaignConfig
from agent.campaign.quantities import UndefinedQuantity, function_values, oracle_values
from agent.campaign.store import Evaluation
from oracles.hull import ReferenceHull

BASE_COLUMNS = ["id", "round", "formula", "ok", "failure"]


def label_row(
    evaluation: Evaluation, config: CampaignConfig, hull: ReferenceHull | None
) -> dict[str, object]:
    result = evaluation.result
    structure = result.structure or result.initial_structure
    row: dict[str, object] = {
        "id": evaluation.id,
        "round": evaluation.round,
        "formula": structure.composition.reduced_formula,
        "ok": result.ok,
        "failure": "" if result.ok else f"{result.failure.kind.value}: {result.failure.reason}",
    }
    row.update(oracle_values(result, config.modelled, hull))
    for name in config.computed:
        try:
            row.update(function_values(structure, [name]))
        except UndefinedQuantity:
            row[name] = math.nan
    objectives = [row[o.name] for o in config.objectives]
    constraints_met = all(
        not math.isnan(row[c.name]) and c.satisfied(row[c.name]) for c in config.constraints
    )
    row["feasible"] = bool(
        result.ok and not any(math.isnan(v) for v in objectives) and constraints_met
    )
    row["hit"] = row["feasible"] and all(o.reached(row[o.name]) for o in config.objectives)
    return row


def label_table(
    evaluations: Sequence[Evaluation], config: CampaignConfig, hull: ReferenceHull | None
) -> pd.DataFrame:
    """One row per evaluation (see the module docstring)."""
    columns = [*BASE_COLUMNS, *config.modelled, *config.computed, "feasible", "hit"]
    rows = [label_row(e, config, hull) for e in evaluations]
    return pd.DataFrame(rows, columns=columns)
