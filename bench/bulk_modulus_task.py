"""MatterGen's bulk-modulus task: ``configs/bulk_modulus.yaml`` against screening MP-20.

    python -m bench.bulk_modulus_task [--methods matterloop screening] [--seeds 0 1 2]
                                      [--out campaigns/bulk_modulus] [--analyze-only]

Methods, both with the config's oracle (CHGNet, relaxed, then the E(V) fit of
:func:`matterloop.oracles.elastic.bulk_modulus`), hull (the complete CHGNet hull of all MP-20
entries, grown by each campaign's results) and budget (100 oracle calls):

- ``matterloop``: the config as shipped: guided generation (an adapter fitted on MP-20's DFT bulk
  moduli before round 0, refitted on the campaign's labels, conditioned beyond the front) and the
  surrogate (its bulk-modulus head seeded with MP-20's DFT labels) with qLogNEI;
- ``screening``: the same surrogate and acquisition over MP-20's known structures instead of
  generated ones (MatterGen's screening baseline: every pick is a known structure, so none is
  novel by construction).

Each campaign runs in its own directory under ``--out`` and resumes where it stopped. The analysis
counts, per 100 oracle calls (per seed, and pooled over the seeds' calls), the labeled structures
with a bulk modulus above 200, 300 and 400 GPa that are stable (E_hull ≤ 0.1 eV/atom) and novel
after relaxation (S.U.N.; a formula of an MP-20 entry without positions is not counted), with the
number of chemical systems they fall in (ordered cells of one alloy, such as the many MoWₙ
orderings of bcc W, are each novel to StructureMatcher but one family to a chemist), and the
stable ones whether novel or not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml
from pymatgen.core import Composition

from bench.efficiency import campaign_table, run_campaigns

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "bulk_modulus.yaml"
METHODS = ("matterloop", "screening")
THRESHOLDS_GPA = (200, 300, 400)


def method_config(method: str, seed: int) -> dict:
    """The campaign config of ``method`` for ``seed``, as a YAML mapping."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["name"] = f"{method}-seed{seed}"
    config["seed"] = seed
    config["tracking"] = {"enabled": False}
    config["ray"] = {"num_cpus": 1, "oracle_cpus": 1}
    if method == "screening":
        config["adapters"] = {"every": 0}
        config["generator"]["conditions"] = {}
        config["generator"]["source"] = "mp_20"
        config["filters"]["novelty_reference"] = None
    return config


def counts(table: pd.DataFrame) -> dict:
    """Per threshold: stable novel results (S.U.N.) per 100 oracle calls and the chemical systems
    they fall in, stable results per 100 calls; the stiffest S.U.N. result."""
    calls = len(table)
    ok = table["ok"].astype(bool)
    stable = ok & table["stable"].fillna(False).astype(bool)
    novel = stable & table["novel"].fillna(False).astype(bool)
    modulus = table["bulk_modulus"]
    systems = table["formula"].map(lambda f: Composition(f).chemical_system)
    row: dict = {"calls": calls, "failed": int((~ok).sum())}
    for threshold in THRESHOLDS_GPA:
        found = novel & (modulus > threshold)
        row[f"sun>{threshold}"] = 100 * int(found.sum()) / calls
        row[f"systems>{threshold}"] = sorted(set(systems[found]))
        row[f"stable>{threshold}"] = 100 * int((stable & (modulus > threshold)).sum()) / calls
    best = table[novel].sort_values("bulk_modulus", ascending=False)
    row["best_novel"] = (
        f"{best.iloc[0]['formula']} {best.iloc[0]['bulk_modulus']:.0f}" if len(best) else "none"
    )
    return row


def analyze(out: Path, methods: list[str], seeds: list[int]) -> None:
    header = " | ".join(f"S.U.N. > {t} (systems)" for t in THRESHOLDS_GPA)
    stable_header = " | ".join(f"stable > {t}" for t in THRESHOLDS_GPA)
    print(f"| method | seed | calls | failed | {header} | {stable_header} | stiffest S.U.N., GPa |")
    print("|---" * (5 + 2 * len(THRESHOLDS_GPA)) + "|")
    systems: dict[str, set[str]] = {}
    for method in methods:
        rows = []
        for seed in seeds:
            directory = out / f"{method}-seed{seed}"
            if not (directory / "config.yaml").exists():
                continue
            table, _ = campaign_table(directory)
            row = counts(table)
            rows.append(row)
            systems[f"{method} seed {seed}"] = set(row[f"systems>{THRESHOLDS_GPA[0]}"])
            print(format_row(method, str(seed), row))
        if len(rows) > 1:
            calls = sum(r["calls"] for r in rows)
            pooled = {
                key: sum(r[key] * r["calls"] for r in rows) / calls
                for key in rows[0]
                if key.startswith(("sun", "stable"))
            }
            pooled |= {"calls": calls, "failed": sum(r["failed"] for r in rows)}
            for threshold in THRESHOLDS_GPA:
                union = set().union(*(r[f"systems>{threshold}"] for r in rows))
                pooled[f"systems>{threshold}"] = sorted(union)
            print(format_row(method, "all, pooled", {**pooled, "best_novel": ""}))
    print(f"\nChemical systems of the S.U.N. results above {THRESHOLDS_GPA[0]} GPa:\n")
    for name, found in systems.items():
        print(f"- {name}: {', '.join(sorted(found)) or 'none'}")


def format_row(method: str, seed: str, row: dict) -> str:
    sun = " | ".join(f"{row[f'sun>{t}']:.1f} ({len(row[f'systems>{t}'])})" for t in THRESHOLDS_GPA)
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
        run_campaigns(args.out, args.methods, args.seeds, method_config)
    analyze(args.out, args.methods, args.seeds)


if __name__ == "__main__":
    main()
