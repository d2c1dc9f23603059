"""Fine-tuning a generator for properties: adapters (and optionally the whole network) trained on
labeled structures with the base model's loss, conditions dropped together with p = 0.2 so that
the same model also serves as the unconditional one of classifier-free guidance."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pymatgen.core import Structure

from matterloop.data.canonical import canonicalize
from matterloop.data.properties import ConditionError, raw_labels
from matterloop.data.quantities import canonical_name
from matterloop.data.readers import structure_problem
from matterloop.data.tensors import (
    CrystalBatch,
    CrystalTensors,
    collate,
    structure_to_tensors,
)
from matterloop.generator.conditioning.adapted_model import AdaptedModel, drop_conditions
from matterloop.generator.conditioning.adapters import AdapterConfig
from matterloop.generator.conditioning.model_io import AdaptedGenerator
from matterloop.generator.conditioning.properties import PropertySpec, PropertyValues
from matterloop.generator.devices import resolve_device
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.symmetry.templates import templates_by_group
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.trainer import batch_indices, descend, progress_bar


@dataclass(frozen=True)
class FinetuneConfig:
    """Attributes:
    steps: optimizer steps; batch_size: crystals per step.
    lr: AdamW learning rate of the adapters; base_lr: of the base network (full fine-tuning).
    grad_clip: max global gradient norm.
    drop_probability: chance that a crystal loses all its conditions in a step.
    full: train the base network's weights too (default: adapters only, base frozen).
    log_properties: scalars to log-transform; ``None`` = the heavy-tailed defaults
        (:attr:`matterloop.data.quantities.KnownQuantity.log_scale`).
    adapter: sizes of fresh adapters.
    seed: order of crystals, noise and dropping.
    device: where the network trains (see :func:`matterloop.generator.devices.resolve_device`); the
        returned model is on the CPU.
    """

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    base_lr: float = 1e-5
    grad_clip: float = 1.0
    drop_probability: float = 0.2
    full: bool = False
    log_properties: tuple[str, ...] | None = None
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    seed: int = 0
    device: str = "cpu"


@dataclass
class TrainingExamples:
    """Fine-tuning crystals (canonical cells) and each property's condition on them."""

    crystals: list[CrystalTensors]
    conditions: dict[str, PropertyValues]
    num_skipped: int

    def batch(self, indices: torch.Tensor) -> tuple[CrystalBatch, dict[str, PropertyValues]]:
        """The crystals ``indices`` as a batch, with their conditions."""
        crystals = collate([self.crystals[int(i)] for i in indices])
        conditions = {
            name: PropertyValues(c.values[indices], c.present[indices])
            for name, c in self.conditions.items()
        }
        return crystals, conditions


def property_specs(
    properties: Sequence[str],
    raw: Mapping[str, Sequence[object]],
    config: FinetuneConfig,
    previous: Mapping[str, PropertySpec],
) -> list[PropertySpec]:
    """Specs of ``properties``: those of a previous model kept (its normalisation is what its
    adapters learned), new ones fitted to the raw labels."""
    specs = []
    for name in properties:
        if name in previous:
            specs.append(previous[name])
            continue
        log = None
        if config.log_properties is not None:
            log = name in {canonical_name(p) for p in config.log_properties}
        labels = raw[name]
        numeric = [v for v in labels if isinstance(v, int | float) and math.isfinite(v)]
        specs.append(PropertySpec.fit(name, numeric, log=log))
    return specs


def finetune(
    start: TrainedGenerator | AdaptedGenerator,
    structures: Sequence[Structure],
    labels: Mapping[str, Sequence[float]],
    properties: Sequence[str],
    config: FinetuneConfig | None = None,
    progress: bool = False,
) -> AdaptedGenerator:
    """Fine-tune a copy of ``start`` (a base model, or an adapted one to continue) for
    ``properties``; ``start`` itself is left as it was.

    Args:
        structures: labeled crystals; unusable ones (overlapping atoms, partial occupancy) are
            skipped.
        labels: property name → one label per structure, ``nan`` where unknown; chemical system,
            space group and (absent an HHI label) HHI are read off the structures.
        properties: the conditioned property names, in order, canonical or aliases
            (:mod:`matterloop.data.quantities`; the model stores canonical names);
            duplicates are errors.

    Raises:
        ConditionError: no properties, duplicates, missing labels or too few usable structures.
        DeviceError: a device this machine does not have.
    """
    config = config or FinetuneConfig()
    device = resolve_device(config.device)
    properties = [canonical_name(name) for name in properties]
    if not properties or len(set(properties)) != len(properties):
        raise ConditionError(f"need distinct property names, got {list(properties)}")
    raw = {name: raw_labels(name, structures, labels) for name in properties}
    previous = start.model.specs if isinstance(start, AdaptedGenerator) else {}
    specs = property_specs(properties, raw, config, previous)
    base = start.base if isinstance(start, AdaptedGenerator) else start
    base = TrainedGenerator(copy.deepcopy(base.model), base.num_atoms_probabilities, base.info)
    adapter_config = (
        start.model.adapter_config if isinstance(start, AdaptedGenerator) else config.adapter
    )
    model = AdaptedModel(base.model, specs, adapter_config)
    for name in set(previous) & set(properties):
        model.adapters[name].load_state_dict(start.model.adapters[name].state_dict())
    examples = training_examples(model, structures, raw)

    model.to(device)
    torch.manual_seed(config.seed)
    noise = torch.Generator().manual_seed(config.seed)
    groups = [{"params": list(model.adapters.parameters()), "lr": config.lr}]
    if config.full:
        model.unfreeze_base()
        groups.append({"params": list(model.base.parameters()), "lr": config.base_lr})
    optimizer = torch.optim.AdamW(groups)
    model.train()
    started = time.perf_counter()
    losses = []
    with progress_bar(progress) as bar:
        task = bar.add_task("fine-tuning", total=config.steps)
        for step in range(config.steps):
            indices = batch_indices(step, len(examples.crystals), config.batch_size, config.seed)
            batch, conditions = examples.batch(indices)
            conditions = drop_conditions(conditions, config.drop_probability, noise)
            loss = model.loss(batch.to(device), conditions).total
            descend(optimizer, loss, model, config.grad_clip)
            losses.append(float(loss.detach()))
            bar.update(task, advance=1, description=f"fine-tuning loss {losses[-1]:.3f}")
    model.base.requires_grad_(False)
    model.to("cpu")
    earlier = start.info if isinstance(start, AdaptedGenerator) else {}
    templates = dict(start.templates) if isinstance(start, AdaptedGenerator) else {}
    if "space_group" in properties:
        labels = examples.conditions["space_group"]
        groups = [int(v) if p else None for v, p in zip(labels.values, labels.present, strict=True)]
        templates |= templates_by_group(examples.crystals, groups)
    info = {
        "properties": list(properties),
        "structures": len(examples.crystals),
        "skipped_structures": examples.num_skipped,
        "labeled": {name: int(c.present.sum()) for name, c in examples.conditions.items()},
        "steps": int(earlier.get("steps", 0)) + config.steps,
        "batch_size": config.batch_size,
        "full_finetuning": config.full,
        "seconds": round(time.perf_counter() - started, 1),
        "final_loss": sum(losses[-20:]) / max(len(losses[-20:]), 1),
    }
    return AdaptedGenerator(base, model.eval(), info, templates)


def training_examples(
    model: AdaptedModel, structures: Sequence[Structure], raw: Mapping[str, Sequence[object]]
) -> TrainingExamples:
    """Canonical cells of the usable structures and their encoded labels."""
    usable = [i for i, s in enumerate(structures) if structure_problem(s) is None]
    if len(usable) < 2:
        raise ConditionError(f"need at least two usable structures, got {len(usable)}")
    crystals = [structure_to_tensors(canonicalize(structures[i])) for i in usable]
    kept = {name: [values[i] for i in usable] for name, values in raw.items()}
    return TrainingExamples(
        crystals, model.encode(kept, len(usable)), len(structures) - len(usable)
    )


def load_start(
    base_path: str | Path | None, init_from: str | Path | None
) -> TrainedGenerator | AdaptedGenerator:
    """What fine-tuning starts from: the adapted model ``init_from`` if given, else the base
    model ``base_path`` (``None``: the shipped one)."""
    if init_from is not None:
        return AdaptedGenerator.load(Path(init_from))
    return TrainedGenerator.load(Path(base_path) if base_path else default_checkpoint())


def finetune_adapters(
    base_path: str | Path | None,
    structures: Sequence[Structure],
    labels: Mapping[str, Sequence[float]],
    properties: Sequence[str],
    out: str | Path,
    *,
    steps: int = 300,
    seed: int = 0,
    init_from: str | Path | None = None,
    device: str = "cpu",
) -> Path:
    """Fine-tune adapters for ``properties`` and write the adapted model file ``out``.

    Args:
        base_path: base model file (``None``: the shipped one); ignored with ``init_from``, whose
            own base is used.
        labels: property → one label per structure (``nan`` where unknown); chemical_system,
            space_group and hhi need none (read off the structures).
        init_from: an adapted model to continue from (its adapters and normalisation are kept;
            new properties get fresh adapters).
        device: where fine-tuning runs (``"cpu"``, ``"cuda"``, ``"auto"``).

    Returns:
        ``out`` as a Path.
    """
    start = load_start(base_path, init_from)
    config = FinetuneConfig(steps=steps, seed=seed, device=device)
    adapted = finetune(start, structures, labels, properties, config)
    out = Path(out)
    adapted.save(out)
    return out
