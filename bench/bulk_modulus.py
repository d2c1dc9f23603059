"""Bulk moduli from ML potentials against MP's DFT values on MP-20.

    python -m bench.bulk_modulus [--data-dir DIR] [--num 120] [--oracles chgnet,7net-l3i5]
                                 [--first N]

Draws ``--num`` MP-20 test structures that have a DFT bulk modulus (``dft_bulk_modulus``: the
Voigt–Reuss–Hill average of MP's relaxed-ion elastic tensor, GPa) with a fixed seed, and computes
each oracle's bulk modulus as a campaign does: relax (positions and cell, FIRE, fmax 0.05 eV/Å,
at most 500 steps), then the Birch–Murnaghan E(V) fit of
:func:`matterloop.oracles.elastic.bulk_modulus` (±6 %, 7 volumes, each relaxed at constant volume;
``-clamped`` oracles scale the relaxed cell rigidly instead). Every result is appended to
``bench/runs/bulk_modulus/<oracle>.jsonl`` (the oracle results format; ``--runs`` for another
folder, e.g. a timing on an idle machine), so an interrupted run resumes where it stopped.

``--first N`` computes only the first ``N`` of the drawn structures for the oracles named (a
slow potential on a subset; ``--first 0`` computes nothing). The first table compares the oracles
on the structures all of them have done, the second each on all it has done. Per oracle:
structures fitted and failed, MAE and median absolute error (GPa), mean signed error (a
softening potential underestimates), Spearman's ρ, the fraction of the DFT values above 100 GPa
that the oracle also puts above 100, and seconds per structure (median, one torch thread, after
loading the model).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from matterloop.core.results_file import ResultRecord, append_result, read_results_file
from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.oracles import CHGNetOracle, SevenNetOracle

RUNS = Path(__file__).parent / "runs" / "bulk_modulus"
SEED = 0
ORACLES: dict[str, tuple[type, dict[str, Any]]] = {
    "chgnet": (CHGNetOracle, {}),
    "chgnet-clamped": (CHGNetOracle, {"eos": {"relax_each_volume": False}}),
    "7net-0": (SevenNetOracle, {"model": "7net-0"}),
    "7net-l3i5": (SevenNetOracle, {"model": "7net-l3i5"}),
}
STIFF_GPA = 100.0


def labeled_sample(data: CrystalDataset, num: int) -> list[int]:
    """``num`` indices of structures with a DFT bulk modulus, drawn with a fixed seed."""
    known = np.flatnonzero(np.isfinite(data.property("dft_bulk_modulus")))
    rng = np.random.default_rng(SEED)
    return sorted(rng.choice(known, size=min(num, known.size), replace=False).tolist())


def done_records(name: str, runs: Path) -> dict[str, ResultRecord]:
    """The results of oracle ``name`` computed so far in ``runs``, by material id."""
    path = runs / f"{name}.jsonl"
    return {record.id: record for record in read_results_file(path)[0]} if path.exists() else {}


def run_oracle(name: str, data: CrystalDataset, indices: list[int], runs: Path) -> None:
    """Compute and append to ``runs`` the results of oracle ``name`` for ``indices`` not done
    yet."""
    path = runs / f"{name}.jsonl"
    done = done_records(name, runs)
    cls, settings = ORACLES[name]
    settings = {"bulk_modulus": True, "threads": 1, **settings}
    settings["robustness"] = {"timeout_s": 900, "max_retries": 0}
    missing = [i for i in indices if data.material_ids[i] not in done]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with cls.from_settings(settings) as oracle, path.open("a") as handle:
            for count, index in enumerate(missing, 1):
                (result,) = oracle.evaluate([data.structure(index)])
                record = ResultRecord(data.material_ids[index], result)
                append_result(handle, record)
                handle.flush()
                print(f"  {name} {count}/{len(missing)} {data.material_ids[index]}", flush=True)


def row(name: str, records: list[ResultRecord], dft: dict[str, float]) -> str:
    fitted = [r for r in records if r.result.ok]
    ours = np.array([r.result.properties["bulk_modulus"] for r in fitted])
    ref = np.array([dft[r.id] for r in fitted])
    error = ours - ref
    stiff = ref > STIFF_GPA
    recall = (ours[stiff] > STIFF_GPA).mean() if stiff.any() else float("nan")
    times = [r.result.wall_time_s for r in records[1:]]  # the first also loads the model
    return (
        f"| {name} | {len(fitted)} | {len(records) - len(fitted)} | {np.abs(error).mean():.1f} | "
        f"{np.median(np.abs(error)):.1f} | {error.mean():+.1f} | "
        f"{spearmanr(ours, ref).statistic:.3f} | {recall:.0%} | {np.median(times):.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding mp_20/ (default: $MATTERLOOP_DATA_DIR)")
    parser.add_argument("--num", type=int, default=120, help="MP-20 test structures")
    parser.add_argument(
        "--oracles", default="chgnet,7net-l3i5", help=f"comma-separated, of {', '.join(ORACLES)}"
    )
    parser.add_argument("--first", type=int, help="compute only the first N drawn structures")
    parser.add_argument("--runs", type=Path, default=RUNS, help=f"results folder (default {RUNS})")
    args = parser.parse_args()
    names = args.oracles.split(",")
    unknown = sorted(set(names) - set(ORACLES))
    if unknown:
        parser.error(f"unknown oracles {unknown}; choose from {', '.join(ORACLES)}")
    test = load_dataset_split("mp_20", "test", args.data_dir)
    indices = labeled_sample(test, args.num)
    dft = {test.material_ids[i]: float(test.property("dft_bulk_modulus")[i]) for i in indices}
    for name in names:
        run_oracle(name, test, indices[: args.first], args.runs)
    done = {name: done_records(name, args.runs) for name in names}
    common = [m for m in dft if all(m in records for records in done.values())]
    header = [
        "| oracle | fitted | failed | MAE GPa | median AE | mean error | Spearman ρ | "
        f"DFT > {STIFF_GPA:.0f} found | s/structure |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print(
        f"{len(common)} MP-20 test structures with a DFT bulk modulus (seed {SEED}), all oracles:\n"
    )
    print("\n".join([*header, *(row(n, [done[n][m] for m in common], dft) for n in names)]))
    print("\nEach oracle on every structure it has done:\n")
    rows = [row(n, [done[n][m] for m in dft if m in done[n]], dft) for n in names]
    print("\n".join([*header, *rows]))


if __name__ == "__main__":
    main()
