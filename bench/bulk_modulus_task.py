"""MatterGen's bulk-modulus task: ``configs/bulk_modulus.yaml`` against screening MP-20.

    python -m bench.bulk_modulus_task [--methods matterloop screening] [--seeds 0 1 2]
                                      [--out campaigns/bulk_modulus] [--analyze-only]

Methods, both with the config's oracle (CHGNet, relaxed, then the E(V) fit of
:func:`oracles.elastic.bulk_modulus`), hull (the complete CHGNet hull of all MP-20 entries, grown
by each campaign's results) and budget (100 oracle calls):

- ``matterloop``: the config as shipped: guided generation (an adapter fitted on MP-20's DFT bulk
  moduli before round 0, refitted on the campaign's labels, conditioned beyond the front) and the
  surrogate (its bulk-modulus head seeded with MP-20's DFT labels) with qLogNEI;
- ``screening``: the same surrogate and acquisition over MP-20's known structures instead of
  generated ones (MatterGen's screening baseline: every pick is a known structure, so none is
  novel by construction).

Each campaign runs in its own directory under ``--out`` and resumes where it stopped. The analysis
counts, per 100 oracle calls, the labeled structures with a bulk modulus above 200, 300 and 400 GPa
that are stable (E_hull ≤ 0.1 eV/atom) and novel after relaxation (S.U.N.; a formula of an MP-20
entry without positions is not counted), and the stable ones whether novel or not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import yaml

from bench.efficiency import campaign_table, run_campaign
from generator.evaluation import load_reference

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "bulk_modulus.yaml"
METHODS = ("matterloop", "screening")
THRESHOLDS_GPA = (200, 300, 400)


def method_config(method: str, seed: int) -> dict:
    """The campaign config of ``method`` for ``seed``, as a YAML mapping."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["name"] = f"{method}-seed{seed}"
    config["seed"] = seed
    config["mlflow"] = {"enabled": False}
    config["ray"] = {"num_cpus": 1, "oracle_cpus": 1}
    if method == "screening":
        config["adapters"] = {"every": 0}
        config["generator"]["conditions"] = {}
        config["generator"]["source"] = "mp_20"
        config["filters"]["novelty_reference"] = None
    return config


def counts(table: pd.DataFrame) -> dict[str, float]:
    """Stable and stable-novel results above each threshold, per 100 oracle calls, and the
    stiffest stable novel result."""
    calls = len(table)
    ok = table["ok"].astype(bool)
    stable = ok & table["stable"].fillna(False).astype(bool)
    novel = stable & table["novel"].fillna(False).astype(bool)
    modulus = table["bulk_modulus"]
    row: dict[str, float] = {"calls": calls, "failed": int((~ok).sum())}
    for threshold in THRESHOLDS_GPA:
        row[f"sun>{threshold}"] = 100 * int((novel & (modulus > threshold)).sum()) / calls
        row[f"stable>{threshold}"] = 100 * int((stable & (modulus > threshold)).sum()) / calls
    best = table[novel].sort_values("bulk_modulus", ascending=False)
    row["best_novel"] = (
        f"{best.iloc[0]['formula']} {best.iloc[0]['bulk_modulus']:.0f}" if len(best) else "none"
    )
    return row


def analyze(out: Path, methods: list[str], seeds: list[int]) -> None:
    header = " | ".join(f"S.U.N. > {t}" for t in THRESHOLDS_GPA)
    stable_header = " | ".join(f"stable > {t}" for t in THRESHOLDS_GPA)
    print(f"| method | seed | calls | failed | {header} | {stable_header} | stiffest S.U.N., GPa |")
    print("|---" * (5 + 2 * len(THRESHOLDS_GPA)) + "|")
    for method in methods:
        rows = []
        for seed in seeds:
            directory = out / f"{method}-seed{seed}"
            if not (directory / "config.yaml").exists():
                continue
            table, _ = campaign_table(directory)
            row = counts(table)
            rows.append(row)
            print(format_row(method, str(seed), row))
        if len(rows) > 1:
            mean = {k: np.mean([r[k] for r in rows]) for k in rows[0] if k != "best_novel"}
            print(format_row(method, "mean", {**mean, "best_novel": ""}))


def format_row(method: str, seed: str, row: dict) -> str:
    sun = " | ".join(f"{row[f'sun>{t}']:.1f}" for t in THRESHOLDS_GPA)
    stable = " | ".join(f"{row[f'stable>{t}']:.1f}" for t in THRESHOLDS_GPA)
    return (
        f"| {method} | {seed} | {row['calls']:.0f} | {row['failed']:.0f} | {sun} | {stable} | "
        f"{row['best_novel']} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=Path("campaigns/bulk_modulus"))
    parser.add_argument("--analyze-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.analyze_only:
        reference = load_reference("mp_20")
        try:
            for seed in args.seeds:
                for method in args.methods:
                    directory = args.out / f"{method}-seed{seed}"
                    run_campaign(method_config(method, seed), directory, reference)
        finally:
            ray.shutdown()
    analyze(args.out, args.methods, args.seeds)


if __name__ == "__main__":
    main()
