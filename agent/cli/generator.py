"""``matterloop generator``: train the diffusion model, fine-tune it for properties, sample
crystals (optionally guided towards property targets), evaluate samples."""

from __future__ import annotations

import argparse
from pathlib import Path

from pymatgen.core import Composition
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from matterloop.agent.cli import generator_quality as quality
from matterloop.agent.cli.arguments import (
    FAST_STEPS,
    add_data_dir_argument,
    add_training_arguments,
    positive_int,
)
from matterloop.core.config import load_yaml_config
from matterloop.core.errors import DataError
from matterloop.core.writer_lock import exclusive_writer
from matterloop.data.labels import read_labeled_structures
from matterloop.data.properties import ConditionError
from matterloop.data.quantities import canonical_name
from matterloop.generator.compositions import CompositionProposals, known_formulas
from matterloop.generator.conditioning import (
    FinetuneConfig,
    finetune,
    load_generator,
    split_condition,
)
from matterloop.generator.conditioning.finetune import load_start
from matterloop.generator.conditioning.properties import element_numbers
from matterloop.generator.devices import resolve_device
from matterloop.generator.guided import (
    composition_request,
    default_model,
    generate_batches,
    resolve_targets,
)
from matterloop.generator.pretrained import default_arrangements
from matterloop.generator.sample_writer import SampleWriter
from matterloop.generator.sampling import SamplerConfig
from matterloop.generator.training.config import TrainConfig
from matterloop.generator.training.model_io import model_config_from_dict


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("generator", help="the crystal diffusion model")
    commands = group.add_subparsers(dest="generator_command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="train (or resume training of) a generator",
        description="Train the diffusion model from a YAML config (configs/generator/*.yaml). "
        "An existing checkpoint in the config's output_dir resumes exactly.",
    )
    add_training_arguments(train)
    train.add_argument("--max-steps", type=positive_int, help="override optim.max_steps")
    train.set_defaults(handler=run_train)

    sample = commands.add_parser(
        "sample",
        help="sample crystals to CIF files and one extxyz",
        description="Predictor-corrector sampling. Structures are written batch by batch; a "
        "second run into the same folder continues where the first stopped.",
    )
    sample.add_argument(
        "--checkpoint",
        type=Path,
        help="base or adapted model file (default: the shipped base model; with --composition "
        "or --elements the shipped CSP model)",
    )
    sample.add_argument("--num", type=positive_int, default=256, help="structures to generate")
    sample.add_argument(
        "--steps", type=positive_int, help=f"reverse steps (default 1000; --fast: {FAST_STEPS})"
    )
    sample.add_argument("--fast", action="store_true", help=f"use {FAST_STEPS} steps")
    sample.add_argument(
        "--type-temperature",
        type=float,
        default=SamplerConfig.type_temperature,
        help="divides the atom-type logits (1: the model's own kernel; default "
        f"{SamplerConfig.type_temperature}, see SamplerConfig)",
    )
    sample.add_argument(
        "--elements",
        metavar="SYSTEM",
        help="a chemical system, e.g. Li-Fe-P-O: each structure's composition is drawn first "
        "from the charge-balanced compositions of the system and its subsystems (weighted to "
        "the whole system, away from MP-20's compositions when the data dir has them), then its "
        "structure is sampled for it",
    )
    sample.add_argument(
        "--free-composition",
        action="store_true",
        help="with --elements, only restrict the atom types to the system (no composition "
        "proposals: the model's composition prior decides)",
    )
    sample.add_argument(
        "--composition",
        metavar="FORMULA",
        help="crystal-structure prediction: every structure has this composition (LiFePO4; "
        "whole formula units, --num-atoms or a cell size drawn from the data)",
    )
    add_data_dir_argument(sample)
    add_device_argument(sample)
    sample.add_argument("--batch-size", type=positive_int, default=64)
    sample.add_argument(
        "--num-atoms", type=positive_int, help="atoms per cell (default: drawn from data)"
    )
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="TARGET",
        help="property target for an adapted model, repeatable: magnetic_density=0.2, "
        "hhi_production<1500, 'magnetic_density>0.15', '0.1<band_gap<2', "
        "chemical_system=Li-Co-O, space_group=225 (names or aliases: matterloop data quantities)",
    )
    sample.add_argument(
        "--guidance",
        type=float,
        default=2.0,
        help="classifier-free guidance factor γ (1: conditional model, 0: unconditional)",
    )
    sample.add_argument(
        "--free-symmetry",
        action="store_true",
        help="with a space_group condition, steer by the adapter alone; by default each sample "
        "is kept in the space group, with the Wyckoff positions of one of the model's "
        "fine-tuning crystals of that group",
    )
    sample.add_argument(
        "--wyckoff",
        action="store_true",
        help="sample each crystal (without a space_group condition) in a space group and "
        "Wyckoff arrangement drawn from the MP-20 training crystals: 13%% P1 instead of 68%%, "
        "but fewer stable crystals on the shipped model (bench/RESULTS.md)",
    )
    sample.add_argument("--out", type=Path, required=True, help="output folder")
    sample.set_defaults(handler=run_sample)

    finetune = commands.add_parser(
        "finetune",
        help="fine-tune property adapters on labeled structures",
        description="Train one adapter per property on a base model (frozen unless --full) and "
        "write an adapted model file for `generator sample --condition`. chemical_system, "
        "space_group and hhi_production are read off the structures when the labels lack them. "
        "A property's labels are found under its name or an alias (`matterloop data "
        "quantities`: e.g. dft_mag_density for magnetic_density).",
    )
    finetune.add_argument("--base", type=Path, help="base model file (default: shipped base model)")
    finetune.add_argument(
        "--init-from", type=Path, help="adapted model to continue from (replaces --base)"
    )
    finetune.add_argument(
        "--labels",
        type=Path,
        required=True,
        help="CSV (cif + label columns), extxyz (info labels) or JSONL of oracle results",
    )
    finetune.add_argument(
        "--property",
        dest="properties",
        action="append",
        required=True,
        metavar="NAME",
        help="conditioned property, repeatable (e.g. magnetic_density, hhi_production, "
        "bulk_modulus, chemical_system)",
    )
    finetune.add_argument("--steps", type=positive_int, default=300)
    finetune.add_argument("--batch-size", type=positive_int, default=32)
    finetune.add_argument("--lr", type=float, default=1e-3, help="adapter learning rate")
    finetune.add_argument(
        "--full", action="store_true", help="train the base network too (at lr 1e-5)"
    )
    finetune.add_argument(
        "--log-property",
        dest="log_properties",
        action="append",
        metavar="NAME",
        help="standardize log(NAME), repeatable (default: bulk and shear moduli)",
    )
    finetune.add_argument("--seed", type=int, default=0)
    add_device_argument(finetune, default="cpu")
    finetune.add_argument("--out", type=Path, required=True, help="adapted model file to write")
    finetune.set_defaults(handler=run_finetune)

    quality.register(commands)


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    parser.add_argument(
        "--device",
        default=default,
        help=f"where the network runs: auto (CUDA when present), cpu, cuda or cuda:N "
        f"(default {default})",
    )


def run_train(args: argparse.Namespace) -> int:
    from matterloop.generator.training.trainer import Trainer

    config = load_yaml_config(args.config, TrainConfig)
    model_config_from_dict(config.model)  # a bad model section fails before the data is read
    updates = {}
    if args.max_steps is not None:
        updates["optim"] = config.optim.model_copy(update={"max_steps": args.max_steps})
    if args.output_dir is not None:
        updates["output_dir"] = args.output_dir
    if args.no_mlflow:
        updates["tracking"] = config.tracking.model_copy(update={"enabled": False})
    config = config.model_copy(update=updates)
    trainer = Trainer(config)
    generator = trainer.run()
    Console().print(
        f"trained {generator.info['steps']} steps in {generator.info['train_seconds']:.0f} s; "
        f"validation loss {generator.info['validation_loss'].get('total', float('nan')):.4f}; "
        f"model: {trainer.model_path}"
    )
    return 0


def run_sample(args: argparse.Namespace) -> int:
    fixed = args.composition is not None or (args.elements and not args.free_composition)
    generator = load_generator(args.checkpoint or default_model(bool(fixed)))
    generator.model.to(resolve_device(args.device))
    targets = resolve_targets(generator, parse_conditions(args.condition))
    steps = args.steps or (FAST_STEPS if args.fast else 1000)
    with exclusive_writer(args.out, directory=True):
        writer = SampleWriter(args.out)
        dropped = 0
        batches = generate_batches(
            generator,
            args.num,
            done=writer.num_written,
            config=SamplerConfig(
                num_steps=steps,
                type_temperature=args.type_temperature,
                elements=restricted_elements(args.elements),
            ),
            targets=targets,
            guidance=args.guidance,
            batch_size=args.batch_size,
            seed=args.seed,
            num_atoms=args.num_atoms,
            symmetric=not args.free_symmetry,
            arrangements=default_arrangements() if args.wyckoff else None,
            composition=requested_composition(args, generator),
        )
        with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
            task = bar.add_task(
                f"sampling ({steps} steps)", total=args.num, completed=writer.num_written
            )
            for result, info in batches:
                writer.write_batch(result.structures, info)
                dropped += result.num_dropped
                bar.update(task, advance=len(result.structures))
        path = writer.finish()
    guided = f"; targets {', '.join(t.describe() for t in targets.values())}" if targets else ""
    Console().print(
        f"{writer.num_written} structures in {args.out} (CIF files and {path.name}); "
        f"{dropped} diverged crystals dropped and replaced{guided}"
    )
    return 0


def requested_composition(
    args: argparse.Namespace, generator
) -> Composition | CompositionProposals | None:
    """``--composition``, or the proposals of ``--elements`` (unless ``--free-composition``),
    away from the known compositions of MP-20 when the data dir has them."""

    def known() -> set[str]:
        try:
            return known_formulas("mp_20", args.data_dir)
        except DataError:
            return set()  # no data dir: proposals are not steered away from known ones

    return composition_request(
        generator, args.composition, args.elements, not args.free_composition, known
    )


def restricted_elements(system: str | None) -> tuple[int, ...] | None:
    """Atomic numbers of ``--elements`` (``Li-Co-O``), None when not given."""
    if system is None:
        return None
    try:
        return tuple(element_numbers(system))
    except ConditionError as exc:
        raise ConditionError(f"--elements: {exc}") from exc


def parse_conditions(texts: list[str]) -> dict[str, str]:
    """``--condition`` options by canonical property name; a property given twice (under any of
    its names) is an error."""
    conditions = {}
    for text in texts:
        name, value = split_condition(text)
        name = canonical_name(name)
        if name in conditions:
            raise ConditionError(f"--condition: {name} given twice")
        conditions[name] = value
    return conditions


def run_finetune(args: argparse.Namespace) -> int:
    structures, labels = read_labeled_structures(args.labels)
    start = load_start(args.base, args.init_from)
    config = FinetuneConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        full=args.full,
        log_properties=tuple(args.log_properties) if args.log_properties else None,
        seed=args.seed,
        device=args.device,
    )
    adapted = finetune(start, structures, labels, args.properties, config, progress=True)
    adapted.save(args.out)
    info = adapted.info
    Console().print(
        f"fine-tuned {', '.join(info['properties'])} on {info['structures']} structures "
        f"({info['skipped_structures']} skipped), {config.steps} steps in {info['seconds']:.0f} s, "
        f"loss {info['final_loss']:.3f}; labeled: "
        + ", ".join(f"{name} {count}" for name, count in info["labeled"].items())
        + f"; model: {args.out}"
    )
    return 0
