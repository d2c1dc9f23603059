"""Property guidance: hit rates of chemical-system and space-group targets, and the HHI and
magnetic density of samples against the guidance factor γ, for a model fine-tuned on MP-20.

    python -m bench.guidance [--model FILE | --base FILE] [--properties P ...] [--parts P ...]
                             [--structures 2000] [--finetune-steps 600] [--lr 1e-3]
                             [--full] [--base-lr 1e-5]
                             [--samples 64] [--steps 100] [--relax chgnet] [--threads 1]
                             [--out guidance.json]

Without ``--model`` it first fine-tunes the base model (``--base``, default the shipped one) on
the first ``--structures`` MP-20 train + val structures for ``--properties`` (default
chemical_system, space_group and hhi, read off the structures; magnetic_density is MP-20's DFT
label); each part below runs if the model has an adapter for its property (``--parts``: only
some).
Chemical systems: the share of samples with exactly the target's elements (and, in brackets, with
a subset of them), unconditional, guided, and guided with the atom types restricted to the
system. Space groups: match rates unconditional, guided by the adapter alone and guided within
the group's templates (Wyckoff positions of fine-tuning crystals, see ``generator.symmetry``), as
generated and (``--relax``) after relaxing every sample with an oracle. HHI is exact (pymatgen's
table), so its medians and the share of samples inside the target range need no oracle. Magnetic
density (µB/Å³) is CHGNet's: the sum of its predicted magnetic moments over the cell volume, a
single point on each sample as generated.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from statistics import median

import torch
from pymatgen.core import Structure

from matterloop.data.labels import dataset_labeled_structures, merge_labeled
from matterloop.data.properties import chemical_system, space_group_number, structure_hhi
from matterloop.generator.conditioning import (
    FinetuneConfig,
    finetune,
    load_generator,
    parse_targets,
)
from matterloop.generator.evaluation import evaluate_samples, load_reference
from matterloop.generator.guided import GenerationResult, generate
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.oracles.registry import build_oracle

PROPERTIES = ["chemical_system", "space_group", "hhi", "magnetic_density"]
SYSTEMS = ["Li-O", "Fe-O", "Mg-Si-O", "Na-Cl", "Li-Co-O"]
SPACE_GROUPS = [225, 221, 194, 62, 139]
GAMMAS = [0.0, 1.0, 2.0, 3.0]
HHI_TARGETS = ["<1500", "1500<x<2500", ">2500"]
MAGNETIC_TARGETS = ["0.03<x<0.07", ">0.1"]  # µB/Å³; MP-20's 99th percentile is 0.134


def finetuned_model(args: argparse.Namespace, out: Path) -> dict:
    """Fine-tune the base model (``--base``, default the shipped one) on MP-20 structures into
    ``out``; returns its summary."""
    structures, labels = dataset_labeled_structures("mp_20", data_dir=args.data_dir)
    first = {name: values[: args.structures] for name, values in labels.items()}
    structures, labels = merge_labeled([(structures[: args.structures], first)], args.properties)
    config = FinetuneConfig(
        steps=args.finetune_steps,
        lr=args.lr,
        base_lr=args.base_lr,
        full=args.full,
        seed=args.seed,
    )
    base = TrainedGenerator.load(args.base or default_checkpoint())
    adapted = finetune(base, structures, labels, args.properties, config, progress=True)
    adapted.save(out)
    return adapted.info


def same_system(target: str) -> Callable[[Structure], bool]:
    return lambda structure: set(chemical_system(structure).split("-")) == set(target.split("-"))


def within_system(target: str) -> Callable[[Structure], bool]:
    return lambda structure: set(chemical_system(structure).split("-")) <= set(target.split("-"))


def same_space_group(target: int) -> Callable[[Structure], bool]:
    return lambda structure: space_group_number(structure) == target


def sampled(
    model: Path,
    args: argparse.Namespace,
    conditions: dict | None,
    guidance: float,
    elements: str | None = None,
    symmetric: bool = False,
) -> GenerationResult:
    """``args.samples`` structures for ``conditions`` at guidance ``guidance``; ``symmetric``:
    a space-group target also constrains the samples to its templates."""
    return generate(
        model,
        args.samples,
        steps=args.steps,
        conditions=conditions,
        guidance=guidance,
        batch_size=args.samples,
        seed=args.seed,
        elements=elements,
        symmetric=symmetric,
    )


def rate(structures: list[Structure], hit: Callable[[Structure], bool]) -> float:
    return sum(map(hit, structures)) / max(len(structures), 1)


def system_rows(model: Path, args: argparse.Namespace, unconditional: list[Structure]) -> list:
    """Exact and subset hit rates per chemical system: unconditional, guided, and guided with
    the atom types restricted to the system."""
    rows = []
    for system in SYSTEMS:
        guided = sampled(model, args, {"chemical_system": system}, args.guidance)
        restricted = sampled(model, args, {"chemical_system": system}, args.guidance, system)
        rows.append(
            {
                "target": system,
                "unconditional": rate(unconditional, same_system(system)),
                "guided": rate(guided.structures, same_system(system)),
                "guided_within": rate(guided.structures, within_system(system)),
                "restricted": rate(restricted.structures, same_system(system)),
                "restricted_within": rate(restricted.structures, within_system(system)),
                "dropped": guided.num_dropped + restricted.num_dropped,
            }
        )
        print(
            "| {target} | {unconditional:.0%} | {guided:.0%} ({guided_within:.0%}) | "
            "{restricted:.0%} ({restricted_within:.0%}) |".format(**rows[-1]),
            flush=True,
        )
    return rows


def relaxed(structures: list[Structure], oracle) -> list[Structure]:
    """The structures relaxed by ``oracle`` (positions and cell); failed ones are left out."""
    return [result.structure for result in oracle.evaluate(structures) if result.ok]


def space_group_rows(
    model: Path, args: argparse.Namespace, unconditional: list, oracle=None
) -> list:
    """Space-group match rates (spglib, symprec 0.1): unconditional, guided by the adapter
    alone and guided within the group's templates (with the structural and SMACT validity, the
    uniqueness and the novelty against MP-20 of those), as generated and, with ``oracle``, after
    relaxing every sample with it (MatterGen measures relaxed structures)."""
    reference = load_reference("mp_20", args.data_dir)
    rows = []
    relaxed_unconditional = relaxed(unconditional, oracle) if oracle else []
    for group in SPACE_GROUPS:
        guided = sampled(model, args, {"space_group": group}, args.guidance)
        symmetric = sampled(model, args, {"space_group": group}, args.guidance, symmetric=True)
        quality = evaluate_samples(symmetric.structures, reference).summary
        row = {
            "target": group,
            "unconditional": rate(unconditional, same_space_group(group)),
            "guided": rate(guided.structures, same_space_group(group)),
            "symmetric": rate(symmetric.structures, same_space_group(group)),
            "symmetric_valid": quality["structurally_valid_fraction"],
            "symmetric_smact": quality["compositionally_valid_fraction"],
            "symmetric_unique": quality["unique_fraction"],
            "symmetric_novel": quality["novel_fraction"],
            "dropped": guided.num_dropped + symmetric.num_dropped,
        }
        line = (
            "| {target} | {unconditional:.0%} | {guided:.0%} | {symmetric:.0%} "
            "({symmetric_valid:.0%}, {symmetric_smact:.0%}, {symmetric_unique:.0%}, "
            "{symmetric_novel:.0%}) |"
        )
        if oracle:
            row["relaxed_unconditional"] = rate(relaxed_unconditional, same_space_group(group))
            row["relaxed_guided"] = rate(
                relaxed(guided.structures, oracle), same_space_group(group)
            )
            line += " {relaxed_unconditional:.0%} | {relaxed_guided:.0%} |"
        rows.append(row)
        print(line.format(**row), flush=True)
    return rows


def scalar_rows(
    model: Path,
    args: argparse.Namespace,
    name: str,
    targets: list[str],
    measure: Callable[[list[Structure]], list[float]],
) -> list:
    """The median of ``name`` over the samples (as ``measure`` finds it) and the fraction inside
    each target range, per target and γ."""
    specs = load_generator(model).model.specs
    rows = []
    for text in targets:
        target = parse_targets(specs, {name: text})[name]
        cells = []
        for gamma in GAMMAS:
            result = sampled(model, args, {name: text}, gamma)
            values = [v for v in measure(result.structures) if v == v]
            inside = sum(target.low < v < target.high for v in values) / max(len(values), 1)
            rows.append(
                {
                    "target": text,
                    "gamma": gamma,
                    "median": median(values) if values else None,
                    "fraction_in_target": inside,
                }
            )
            cells.append(f"{rows[-1]['median']:.4g} ({inside:.0%})" if values else "-")
        print(f"| {text} | " + " | ".join(cells) + " |", flush=True)
    return rows


def hhis(structures: list[Structure]) -> list[float]:
    return [structure_hhi(s) for s in structures]


@cache
def single_point_oracle(threads: int):
    """CHGNet without relaxation, built once."""
    settings = {"relax": None, "threads": threads, "robustness": {"isolation": "inline"}}
    return build_oracle("chgnet", settings)


def chgnet_magnetic_densities(structures: list[Structure], threads: int) -> list[float]:
    """CHGNet single points: |Σ magnetic moments| / volume (µB/Å³) of each structure, ``nan``
    where the oracle fails."""
    return [
        r.magnetic_density if r.ok and r.magnetic_density is not None else float("nan")
        for r in single_point_oracle(threads).evaluate(structures)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="adapted model (default: fine-tune one)")
    parser.add_argument(
        "--base", type=Path, help="base model to fine-tune (default: the shipped one)"
    )
    parser.add_argument("--data-dir", type=Path, help="holds mp_20/ (default: the data dir)")
    parser.add_argument("--structures", type=int, default=2000)
    parser.add_argument("--properties", nargs="+", default=PROPERTIES, choices=PROPERTIES)
    parser.add_argument(
        "--parts", nargs="+", choices=PROPERTIES, help="measure only these (default: all)"
    )
    parser.add_argument("--finetune-steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=FinetuneConfig.lr, help="adapter lr")
    parser.add_argument("--full", action="store_true", help="train the base network's weights too")
    parser.add_argument("--base-lr", type=float, default=FinetuneConfig.base_lr)
    parser.add_argument("--samples", type=int, default=64, help="samples per target")
    parser.add_argument("--steps", type=int, default=100, help="reverse steps")
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument(
        "--relax", metavar="ORACLE", help="also match space groups after relaxing with ORACLE"
    )
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
    properties = set(load_generator(model).model.specs) & set(args.parts or PROPERTIES)
    unconditional = sampled(model, args, None, 0.0).structures

    gamma = f"γ = {args.guidance:g}"
    if "chemical_system" in properties:
        print(
            f"\n| chemical system | unconditional | guided, {gamma} (subset) | guided and "
            "restricted to the system (subset) |\n|---|---|---|---|"
        )
        report["chemical_system"] = system_rows(model, args, unconditional)
        args.out.write_text(json.dumps(report, indent=2))

    if "space_group" in properties:
        header = (
            f"\n| space group | unconditional | guided, {gamma} | guided in the group's "
            "templates (structurally valid, SMACT, unique, novel) |"
        )
        if args.relax:
            header += f" relaxed by {args.relax}: unconditional | guided |"
        print(header + "\n|---|---|---|---|" + ("---|---|" if args.relax else ""))
        oracle = build_oracle(args.relax) if args.relax else None
        report["space_group"] = space_group_rows(model, args, unconditional, oracle)
        args.out.write_text(json.dumps(report, indent=2))

    scalars = {  # title, targets, and what measures the samples
        "hhi": ("HHI", HHI_TARGETS, hhis),
        "magnetic_density": (
            "magnetic density (µB/Å³, CHGNet)",
            MAGNETIC_TARGETS,
            partial(chgnet_magnetic_densities, threads=args.threads),
        ),
    }
    for name, (title, targets, measure) in scalars.items():
        if name in properties:
            print(f"\n| {title} target | " + " | ".join(f"γ = {g:g}" for g in GAMMAS) + " |")
            print("|---|" + "---|" * len(GAMMAS))
            report[name] = scalar_rows(model, args, name, targets, measure)
            args.out.write_text(json.dumps(report, indent=2))
    print(f"\nreport: {args.out}")


if __name__ == "__main__":
    main()
