"""Property guidance: hit rates of chemical-system and space-group targets and the HHI of samples
against the guidance factor γ, for a model fine-tuned on MP-20.

    python -m bench.guidance [--model FILE] [--structures 2000] [--finetune-steps 600]
                             [--samples 64] [--steps 100] [--threads 1] [--out guidance.json]

Without ``--model`` it first fine-tunes the shipped base model on the first ``--structures``
MP-20 train + val structures for chemical_system, space_group and hhi (read off the structures).
HHI is exact (pymatgen's table), so its medians need no oracle.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import torch
from pymatgen.core import Structure

from generator.conditioning import FinetuneConfig, finetune
from generator.conditioning.labels import read_labeled_structures
from generator.conditioning.properties import chemical_system, space_group_number, structure_hhi
from generator.data import resolve_data_dir
from generator.guided import generate
from generator.pretrained import default_checkpoint
from generator.training.model_io import TrainedGenerator

PROPERTIES = ["chemical_system", "space_group", "hhi"]
SYSTEMS = ["Li-O", "Fe-O", "Mg-Si-O", "Na-Cl", "Li-Co-O"]
SPACE_GROUPS = [225, 221, 194, 62, 139]
GAMMAS = [0.0, 1.0, 2.0, 3.0]
HHI_TARGETS = ["<1500", "1500<x<2500", ">2500"]


def finetuned_model(args: argparse.Namespace, out: Path) -> dict:
    """Fine-tune the shipped model on MP-20 structures into ``out``; returns its summary."""
    structures = []
    split_dir = resolve_data_dir(args.data_dir) / "mp_20" / "structures"
    for split in ("train", "val"):
        if len(structures) < args.structures:
            structures += read_labeled_structures(split_dir / f"{split}.csv.gz")[0]
    structures = structures[: args.structures]
    config = FinetuneConfig(steps=args.finetune_steps, seed=args.seed)
    base = TrainedGenerator.load(default_checkpoint())
    adapted = finetune(base, structures, {}, PROPERTIES, config, progress=True)
    adapted.save(out)
    return adapted.info


def same_system(target: str) -> Callable[[Structure], bool]:
    return lambda structure: set(chemical_system(structure).split("-")) == set(target.split("-"))


def same_space_group(target: int) -> Callable[[Structure], bool]:
    return lambda structure: space_group_number(structure) == target


def hit_rate(
    model: Path, args: argparse.Namespace, name: str, target: object, hit: Callable
) -> dict:
    """Fraction of ``args.samples`` samples conditioned on ``name = target`` that hit it."""
    started = time.perf_counter()
    result = generate(
        model,
        args.samples,
        steps=args.steps,
        conditions={name: target},
        guidance=args.guidance,
        batch_size=args.samples,
        seed=args.seed,
    )
    hits = sum(hit(s) for s in result.structures)
    return {
        "target": target,
        "hit_rate": hits / max(len(result.structures), 1),
        "dropped": result.num_dropped,
        "seconds": round(time.perf_counter() - started, 1),
    }


def hhi_median(model: Path, args: argparse.Namespace, target: str, gamma: float) -> float | None:
    """Median HHI of samples drawn for the HHI ``target`` at guidance ``gamma``."""
    result = generate(
        model,
        args.samples,
        steps=args.steps,
        conditions={"hhi": target},
        guidance=gamma,
        batch_size=args.samples,
        seed=args.seed,
    )
    values = [v for v in map(structure_hhi, result.structures) if v == v]
    return median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="adapted model (default: fine-tune one)")
    parser.add_argument("--data-dir", type=Path, help="holds mp_20/ (default: the data dir)")
    parser.add_argument("--structures", type=int, default=2000)
    parser.add_argument("--finetune-steps", type=int, default=600)
    parser.add_argument("--samples", type=int, default=64, help="samples per target")
    parser.add_argument("--steps", type=int, default=100, help="reverse steps")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("guidance.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    report: dict = {"settings": {k: str(v) for k, v in vars(args).items()}}
    model = args.model
    if model is None:
        model = args.out.with_suffix(".pt")
        report["finetuning"] = finetuned_model(args, model)
        print(f"fine-tuned: {report['finetuning']}")

    print(f"\n| target (γ = {args.guidance:g}) | hit rate | dropped | s |\n|---|---|---|---|")
    cases = [("chemical_system", system, same_system(system)) for system in SYSTEMS]
    cases += [("space_group", group, same_space_group(group)) for group in SPACE_GROUPS]
    for name, target, hit in cases:
        row = hit_rate(model, args, name, target, hit)
        report.setdefault(name, []).append(row)
        args.out.write_text(json.dumps(report, indent=2))
        print(
            f"| {target} | {100 * row['hit_rate']:.0f}% | {row['dropped']} | {row['seconds']} |",
            flush=True,
        )

    print("\n| HHI target | " + " | ".join(f"γ = {g:g}" for g in GAMMAS) + " |")
    print("|---|" + "---|" * len(GAMMAS))
    report["hhi"] = []
    for target in HHI_TARGETS:
        medians = [hhi_median(model, args, target, gamma) for gamma in GAMMAS]
        report["hhi"] += [
            {"target": target, "gamma": g, "median_hhi": m}
            for g, m in zip(GAMMAS, medians, strict=True)
        ]
        args.out.write_text(json.dumps(report, indent=2))
        shown = " | ".join("-" if m is None else f"{m:.0f}" for m in medians)
        print(f"| {target} | {shown} |", flush=True)
    print(f"\nreport: {args.out}")


if __name__ == "__main__":
    main()
