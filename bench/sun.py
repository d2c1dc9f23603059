"""S.U.N., RMSD and symmetry of generated crystals, next to two same-protocol references.

    python -m bench.sun [--checkpoint FILE] [--steps 100 1000] [--samples 1024 [1024]]
                        [--samplers symmetric free]
                        [--control 256] [--random 256] [--workers 2] [--out bench/runs/sun]

Three kinds of structure sets go through one protocol:

- ``symmetric-<steps>`` and ``generated-<steps>``: ``--samples`` crystals sampled from
  ``--checkpoint`` (default: the shipped model) with the campaign's default sampler settings
  (batch 64, the default type temperature, no guidance) at each of ``--steps``, each in a
  Wyckoff arrangement drawn from the MP-20 training crystals (``--samplers symmetric``) or free
  of symmetry constraints (``free``, the ``generated`` sets);
- ``mp20-test`` (the control): the first ``--control`` MP-20 test structures, DFT-relaxed already:
  expect ~100% stable, ~0% novel, RMSD ≈ 0.01 Å, or the protocol is broken;
- ``pyxtal-random`` (MatterGen's "random structure search"): ``--random`` random symmetric
  crystals from pyxtal, each with the composition and atom count of a random MP-20 train/val
  structure, in a random space group that admits them.

The protocol (``generator.evaluation.evaluate_samples`` with ``oracles.stability.StabilityMetric``,
the code behind ``matterloop generator evaluate --oracle chgnet``): CHGNet relaxes positions and
cell (FIRE, fmax 0.05 eV/Å, at most 500 steps); E_hull against the complete CHGNet hull of all
MP-20 entries; stable E_hull ≤ 0.1 eV/atom, on hull ≤ 0; unique and novel (against the 20,666
MP-20 structures, StructureMatcher 0.2 / 0.3 / 5°) after relaxation; a formula of an MP-20 entry
without positions counts as not novel (``S.U.N. upper`` counts it); RMSD (Å) between generated and
relaxed cell as MatterGen computes it, failed matches at the cap; share of generated cells in P1
(spglib, symprec 0.1). Seconds per S.U.N. structure: sampling (wall, ``--threads``) plus relaxation
(the oracle's wall time per structure, one thread each) over the S.U.N. count.

Every oracle result is appended to ``<out>/<set>/results.jsonl`` as it returns and the sampled
structures are kept, so an interrupted run continues where it stopped; ``--samples`` may grow
between runs. Prints a markdown table and writes ``<out>/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Composition, Structure
from tqdm import tqdm

from matterloop.agent.structure_sets import StructureSet, fill_generated, measure_set, relax_all
from matterloop.generator.evaluation import load_reference
from matterloop.oracles.references import load_hull

ORACLE = "chgnet"
SET_NAMES = {"symmetric": "symmetric-{}", "free": "generated-{}"}
"""Sampler → name of its structure set at a step count (``generated``: the free sampler)."""
MAX_SPACE_GROUP_TRIES = 50


def fill_control(target: StructureSet, count: int) -> None:
    """The first ``count`` MP-20 test structures."""
    if len(target.items) >= count:
        return
    from matterloop.data import load_dataset_split

    test = load_dataset_split("mp_20", "test", progress=False)
    target.extend([test.structure(i) for i in range(len(target.items), count)], 0.0)


def random_symmetric(structure: Structure, rng: np.random.Generator) -> Structure | None:
    """A pyxtal crystal of the composition and atom count of ``structure`` in a random space
    group that admits them (None if none of ``MAX_SPACE_GROUP_TRIES`` groups does)."""
    from pyxtal import pyxtal

    composition = structure.composition
    species = [el.symbol for el in composition.elements]
    counts = [int(composition[el]) for el in composition.elements]
    for _ in range(MAX_SPACE_GROUP_TRIES):
        crystal = pyxtal()
        try:
            crystal.from_random(3, int(rng.integers(2, 231)), species, counts, random_state=rng)
        except Exception:  # pyxtal raises when the group cannot hold these counts
            continue
        if crystal.valid:
            return crystal.to_pymatgen()
    return None


def fill_random(target: StructureSet, count: int, seed: int) -> None:
    """Random symmetric crystals of MP-20 train/val compositions until ``target`` holds
    ``count``."""
    if len(target.items) >= count:
        return
    from matterloop.data import CrystalDataset, load_dataset_split

    pool = CrystalDataset.concatenate(
        [load_dataset_split("mp_20", split, progress=False) for split in ("train", "val")]
    )
    rng = np.random.default_rng(seed + len(target.items))
    with tqdm(total=count, initial=len(target.items), desc=target.name) as progress:
        while len(target.items) < count:
            started = time.perf_counter()
            crystal = random_symmetric(pool.structure(int(rng.integers(len(pool)))), rng)
            if crystal is not None:
                target.extend([crystal], time.perf_counter() - started)
                progress.update(1)


def measure(structure_set: StructureSet, reference, hull) -> dict:
    """The protocol's figures of ``structure_set`` (structures without a result are left out)."""
    report = measure_set(structure_set, reference, hull)
    return {"set": structure_set.name, **report.summary, "groups": groups(report.per_structure)}


ANIONS = frozenset({"N", "O", "F", "S", "Cl", "Se", "Br", "Te", "I"})


def has_anion(formula: str) -> bool:
    """Whether ``formula`` holds an element that is an anion in oxides, nitrides, halides and
    chalcogenides (where charge balance is expected)."""
    return any(element.symbol in ANIONS for element in Composition(formula).elements)


def groups(rows: Sequence[dict]) -> dict[str, dict[str, float]]:
    """Count, stable share and S.U.N. share of ``rows`` (per-structure figures) by SMACT
    validity and by number of elements: what a SMACT filter or a composition prior would
    keep."""
    keys = {
        "SMACT-valid": lambda r: r["compositionally_valid"],
        "not SMACT-valid": lambda r: not r["compositionally_valid"],
        "not SMACT-valid, with an anion": lambda r: (
            not r["compositionally_valid"] and has_anion(r["formula"])
        ),
        **{
            f"{n}{'+' * (n == 5)} element{'s' * (n > 1)}": (
                lambda r, n=n: r["num_elements"] == n or (n == 5 and r["num_elements"] > 5)
            )
            for n in range(1, 6)
        },
    }
    table = {}
    for name, belongs in keys.items():
        chosen = [r for r in rows if belongs(r)]
        if chosen:
            table[name] = {
                "N": len(chosen),
                "stable": sum(bool(r["stable"]) for r in chosen) / len(chosen),
                "S.U.N.": sum(bool(r["sun"]) for r in chosen) / len(chosen),
            }
    return table


def groups_markdown(rows: Sequence[dict]) -> str:
    """One line per set and group: N, stable, S.U.N."""
    lines = ["| set | group | N | stable | S.U.N. |", "|---|---|---|---|---|"]
    for row in rows:
        for name, figures in row["groups"].items():
            lines.append(
                f"| {row['set']} | {name} | {figures['N']} | {figures['stable']:.1%} "
                f"| {figures['S.U.N.']:.1%} |"
            )
    return "\n".join(lines)


COLUMNS = [
    ("N", "num_structures", "{:.0f}"),
    ("valid", "structurally_valid_fraction", "{:.1%}"),
    ("SMACT", "compositionally_valid_fraction", "{:.1%}"),
    ("P1", "p1_fraction", "{:.1%}"),
    ("elements", "mean_num_elements", "{:.2f}"),
    ("stable", "stable_fraction", "{:.1%}"),
    ("on hull", "on_hull_fraction", "{:.1%}"),
    ("unique", "unique_fraction", "{:.1%}"),
    ("novel", "novel_fraction", "{:.1%}"),
    ("novel as generated", "novel_as_generated_fraction", "{:.1%}"),
    ("S.U.N.", "sun_fraction", "{:.1%}"),
    ("S.U.N. upper", "sun_upper_fraction", "{:.1%}"),
    ("RMSD Å", "mean_rmsd", "{:.3f}"),
    ("RMSD failed", "rmsd_failed_fraction", "{:.1%}"),
    ("relax conv.", "relaxation_converged_fraction", "{:.1%}"),
    ("mean E_hull", "mean_e_above_hull", "{:.3f}"),
    ("s / S.U.N.", "seconds_per_sun", "{:.1f}"),
]


def markdown(rows: Sequence[dict]) -> str:
    header = "| set | " + " | ".join(name for name, _, _ in COLUMNS) + " |"
    lines = [header, "|---" * (len(COLUMNS) + 1) + "|"]
    for row in rows:
        cells = [spec.format(row.get(key, float("nan"))) for _, key, spec in COLUMNS]
        lines.append(f"| {row['set']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: shipped model")
    parser.add_argument(
        "--samples",
        type=int,
        nargs="+",
        default=[1024],
        help="generated crystals for each --steps (one value: for all)",
    )
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--samplers",
        nargs="+",
        choices=list(SET_NAMES),
        default=list(SET_NAMES),
        help="symmetric: Wyckoff arrangements of the training crystals (generate(wyckoff=True)); "
        "free: no symmetry constraint (the default sampler)",
    )
    parser.add_argument("--control", type=int, default=256, help="MP-20 test structures")
    parser.add_argument("--random", type=int, default=256, help="pyxtal random crystals")
    parser.add_argument("--workers", type=int, default=2, help="CHGNet workers (1 thread each)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for sampling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("bench/runs/sun"))
    parser.add_argument("--report-only", action="store_true", help="measure what is on disk")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    runs = [(sampler, steps) for sampler in args.samplers for steps in args.steps]
    sets = [StructureSet(args.out, SET_NAMES[sampler].format(steps)) for sampler, steps in runs]
    control = StructureSet(args.out, "mp20-test")
    random = StructureSet(args.out, "pyxtal-random")
    samples = args.samples * len(args.steps) if len(args.samples) == 1 else args.samples
    if len(samples) != len(args.steps):
        parser.error("--samples: give one value, or one per --steps")
    counts = samples * len(args.samplers)
    if not args.report_only:
        for count, (sampler, steps), target in zip(counts, runs, sets, strict=True):
            symmetric = sampler == "symmetric"
            fill_generated(target, count, steps, args.checkpoint, args.seed, symmetric)
        fill_control(control, args.control)
        fill_random(random, args.random, args.seed)
        relax_all([*sets, control, random], args.workers)
    reference = load_reference("mp_20")
    hull = load_hull(ORACLE)
    rows = [measure(s, reference, hull) for s in [*sets, control, random] if s.results()]
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))
    print(markdown(rows))
    print()
    print(groups_markdown([r for r in rows if r["set"] not in ("mp20-test", "pyxtal-random")]))


if __name__ == "__main__":
    main()
