"""Pareto fronts and hypervolume of the labeled data, as a table, a CSV and a plot.

Objectives are turned into maximization problems (``sign * value``, see
:attr:`~matterloop.agent.campaign.config.ObjectiveConfig.sign`); the front is BoTorch's
non-dominated set of the feasible rows and the hypervolume is dominated with respect to the
objectives' reference points (BoTorch's exact box decomposition).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from botorch.utils.multi_objective.pareto import is_non_dominated
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from matterloop.agent.campaign.config import ObjectiveConfig
from matterloop.agent.campaign.quantities import quantity
from matterloop.agent.campaign.summary import RoundSummary


def signed_values(table: pd.DataFrame, objectives: Sequence[ObjectiveConfig]) -> torch.Tensor:
    """``(n, k)`` float64: each objective times its sign (larger is better)."""
    columns = [o.sign * table[o.name].to_numpy(dtype=float) for o in objectives]
    return torch.as_tensor(np.stack(columns, axis=-1), dtype=torch.double)


def signed_reference(objectives: Sequence[ObjectiveConfig]) -> torch.Tensor:
    """``(k,)`` reference point in the signed (maximization) space."""
    return torch.tensor([o.sign * o.reference for o in objectives], dtype=torch.double)


def front_mask(table: pd.DataFrame, objectives: Sequence[ObjectiveConfig]) -> np.ndarray:
    """``(n,)`` True for the feasible rows that no other feasible row dominates."""
    mask = np.zeros(len(table), dtype=bool)
    feasible = table["feasible"].to_numpy(dtype=bool)
    if feasible.any():
        values = signed_values(table[feasible], objectives)
        mask[np.flatnonzero(feasible)] = is_non_dominated(values, deduplicate=False).numpy()
    return mask


def hypervolume(table: pd.DataFrame, objectives: Sequence[ObjectiveConfig]) -> float:
    """Hypervolume dominated by the feasible rows, in the product of the objectives' units
    (0 when none is feasible or none beats the reference point); with one objective, the length
    from the reference to the best value."""
    feasible = table["feasible"].to_numpy(dtype=bool)
    if not feasible.any():
        return 0.0
    values = signed_values(table[feasible], objectives)
    reference = signed_reference(objectives)
    better = (values > reference).all(dim=-1)
    if not better.any():
        return 0.0
    if len(objectives) == 1:
        return float((values[better] - reference).max())
    return float(DominatedPartitioning(reference, values[better]).compute_hypervolume())


def front_table(table: pd.DataFrame, objectives: Sequence[ObjectiveConfig]) -> pd.DataFrame:
    """The Pareto-optimal rows, best first by the first objective."""
    front = table[front_mask(table, objectives)]
    first = objectives[0]
    return front.sort_values(first.name, ascending=first.direction == "minimize")


KIND_STYLES = (
    {"facecolors": "none", "edgecolors": "0.6", "label": "infeasible"},
    {"color": "0.35", "label": "feasible, novel"},
    {"marker": "x", "color": "tab:orange", "label": "feasible, not novel after relaxation"},
)
"""How the plots draw the three kinds of :func:`result_kinds`."""


def result_kinds(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(n,)`` masks of the labeled rows of ``table``: infeasible; feasible and novel after
    relaxation; feasible and not novel. Failed results are in none."""
    ok = table["ok"].to_numpy(dtype=bool)  # an empty column has dtype object
    feasible = ok & table["feasible"].to_numpy(dtype=bool)
    novel = table["novel"].to_numpy(dtype=bool)
    return ok & ~feasible, feasible & novel, feasible & ~novel


def plot_fronts(
    table: pd.DataFrame, objectives: Sequence[ObjectiveConfig], path: Path, units: Sequence[str]
) -> None:
    """Write :func:`fronts_figure` to ``path``."""
    save(fronts_figure(table, objectives, units), path)


def fronts_figure(
    table: pd.DataFrame, objectives: Sequence[ObjectiveConfig], units: Sequence[str]
) -> Figure:
    """Scatter of the first two objectives of every labeled structure (feasible and novel after
    relaxation filled, feasible but not novel as crosses, infeasible hollow) with the Pareto front
    after each round, earlier rounds faded, and the front of the novel results dashed. With one
    objective, its values against the oracle calls, with the best so far
    (:func:`best_so_far_figure`)."""
    if len(objectives) == 1:
        return best_so_far_figure(table, objectives[0], units[0])
    x_objective, y_objective = objectives[0], objectives[1]
    figure = Figure(figsize=(6.4, 4.8), dpi=120)
    axes = figure.add_subplot()
    for mask, style in zip(result_kinds(table), KIND_STYLES, strict=True):
        axes.scatter(table.loc[mask, x_objective.name], table.loc[mask, y_objective.name], **style)
    rounds = sorted(table["round"].unique())
    for index, number in enumerate(rounds):
        until = table[table["round"] <= number]
        front = front_table(until, objectives).sort_values(x_objective.name)
        if front.empty:
            continue
        latest = index == len(rounds) - 1
        axes.plot(
            front[x_objective.name],
            front[y_objective.name],
            marker="o",
            drawstyle="steps-post",
            color="tab:red" if latest else "tab:blue",
            alpha=1.0 if latest else 0.15 + 0.6 * (index + 1) / len(rounds),
            label=f"front after round {number}" if latest else None,
        )
    novel_front = front_table(table[table["novel"].astype(bool)], objectives)
    if not novel_front.empty:
        novel_front = novel_front.sort_values(x_objective.name)
        axes.plot(
            novel_front[x_objective.name],
            novel_front[y_objective.name],
            drawstyle="steps-post",
            linestyle="--",
            color="tab:green",
            label="front of novel results",
        )
    axes.set_xlabel(f"{x_objective.name} [{units[0]}] ({x_objective.direction})")
    axes.set_ylabel(f"{y_objective.name} [{units[-1]}] ({y_objective.direction})")
    axes.set_title("Pareto front (earlier rounds faded)")
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def best_so_far_figure(table: pd.DataFrame, objective: ObjectiveConfig, unit: str) -> Figure:
    """A single objective against the oracle calls (feasible and novel after relaxation filled,
    feasible but not novel as crosses, infeasible hollow), with the best feasible value so far
    and the best feasible novel one."""
    figure = Figure(figsize=(6.4, 4.8), dpi=120)
    axes = figure.add_subplot()
    calls = np.arange(1, len(table) + 1)
    values = table[objective.name].to_numpy(dtype=float)
    infeasible, novel, known = result_kinds(table)
    for mask, style in zip((infeasible, novel, known), KIND_STYLES, strict=True):
        axes.scatter(calls[mask], values[mask], **style)
    feasible = novel | known
    for mask, style in ((feasible, {"color": "tab:red"}), (novel, {"color": "tab:green"})):
        signed = np.where(mask, objective.sign * values, -np.inf)
        best = objective.sign * np.maximum.accumulate(signed)
        shown = np.isfinite(best)
        label = "best feasible" if mask is feasible else "best feasible novel"
        axes.step(calls[shown], best[shown], where="post", label=label, **style)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("oracle calls")
    axes.set_ylabel(f"{objective.name} [{unit}] ({objective.direction})")
    axes.set_title("Objective against oracle calls")
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def hypervolume_trace(table: pd.DataFrame, objectives: Sequence[ObjectiveConfig]) -> np.ndarray:
    """``(n,)`` hypervolume of the first ``i + 1`` rows of ``table``, for rows in the order the
    oracle returned them: the hypervolume after each oracle call."""
    trace = np.zeros(len(table))
    volume = 0.0
    feasible = table["feasible"].to_numpy(dtype=bool)
    for index in range(len(table)):
        if feasible[index]:  # an infeasible label leaves the hypervolume as it was
            volume = hypervolume(table.iloc[: index + 1], objectives)
        trace[index] = volume
    return trace


def hypervolume_figure(
    summaries: Sequence[RoundSummary], unit: str, trace: Sequence[float] | None = None
) -> Figure:
    """Hypervolume (in ``unit``) against the number of oracle calls: a dot where each round of
    ``summaries`` ended (their ``round``, ``total_oracle_calls`` and ``hypervolume``), joined by
    steps; with ``trace``, the ``(n,)`` hypervolume after each call (:func:`hypervolume_trace`),
    the steps follow every call."""
    rounds = [(s.round, s.total_oracle_calls, s.hypervolume) for s in summaries]
    if trace is None:
        calls, volumes = [r[1] for r in rounds], [r[2] for r in rounds]
    else:
        calls, volumes = list(range(1, len(trace) + 1)), list(trace)
    figure = Figure(figsize=(6.4, 4.8), dpi=120)
    axes = figure.add_subplot()
    axes.step([0, *calls], [0.0, *volumes], where="post", color="tab:blue")
    if rounds:
        _, ends, values = zip(*rounds, strict=True)
        axes.plot(ends, values, "o", color="tab:red", label="end of round")
        for number, end, value in rounds:
            axes.annotate(
                str(number), (end, value), textcoords="offset points", xytext=(0, 6), ha="center"
            )
        axes.legend(loc="lower right", fontsize="small")
    axes.set_xlabel("oracle calls")
    axes.set_ylabel(f"hypervolume [{unit}]")
    axes.set_title("Hypervolume against oracle calls")
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    figure.tight_layout()
    return figure


def hypervolume_unit(objectives: Sequence[ObjectiveConfig]) -> str:
    """The unit of the hypervolume: the product of the objectives' units."""
    return " × ".join(quantity(o.name).unit or "1" for o in objectives)


def save(figure: Figure, path: Path) -> None:
    """Write ``figure`` to ``path`` (format from the suffix), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
