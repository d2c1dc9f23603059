"""A round of ``matterloop generator improve`` in figures: MLflow metrics, a line, a table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

METRICS = {
    "sun_fraction": "sun",
    "stable_fraction": "stable",
    "novel_fraction": "novel",
    "unique_fraction": "unique",
    "p1_fraction": "p1",
    "mean_rmsd": "rmsd",
    "rmsd_failed_fraction": "rmsd_failed",
    "mean_e_above_hull": "mean_e_hull",
    "structurally_valid_fraction": "valid",
    "compositionally_valid_fraction": "smact",
    "rewarded": "rewarded",
    "sun_repeats_of_rewarded": "sun_repeats",
    "held_out_loss_before": "held_out_loss_before",
    "held_out_loss_after": "held_out_loss_after",
    "rewarded_loss_before": "rewarded_loss_before",
    "rewarded_loss_after": "rewarded_loss_after",
    "seconds_oracle_cpu": "oracle_cpu_s",
    "seconds_sampling": "sampling_s",
    "seconds_finetune": "finetune_s",
}


def metrics_of(summary: dict[str, Any]) -> dict[str, float]:
    """A round's MLflow metrics (numbers only)."""
    return {short: float(summary[key]) for key, short in METRICS.items() if key in summary}


def round_line(summary: dict[str, Any]) -> str:
    return (
        f"round {summary['round']}: S.U.N. {summary['sun_fraction']:.1%}, stable "
        f"{summary['stable_fraction']:.1%}, novel {summary['novel_fraction']:.1%}, P1 "
        f"{summary['p1_fraction']:.1%}, RMSD {summary['mean_rmsd']:.3f} Å; "
        f"{summary['rewarded']} rewarded; held-out loss {summary['held_out_loss_before']:.3f} "
        f"→ {summary['held_out_loss_after']:.3f}"
    )


def rounds_table(summaries: Sequence[dict[str, Any]]) -> Table:
    """The rounds at a glance (the model each round sampled), at 80 columns."""
    table = Table(title="generator improvement: each round's samples")
    for name in ("round", "N", "S.U.N.", "stable", "novel", "P1", "RMSD Å", "E_hull", "reward"):
        table.add_column(name, justify="right")
    for s in summaries:
        table.add_row(
            str(s["round"]),
            f"{s['num_structures']:.0f}",
            f"{s['sun_fraction']:.1%}",
            f"{s['stable_fraction']:.1%}",
            f"{s['novel_fraction']:.1%}",
            f"{s['p1_fraction']:.1%}",
            f"{s['mean_rmsd']:.3f}",
            f"{s['mean_e_above_hull']:.3f}",
            str(s["rewarded"]),
        )
    return table
