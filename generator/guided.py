"""Generation and fine-tuning in one call each: the interface of the campaign agent.

``generate`` samples from the shipped base model, a base model file or an adapted model file, with
classifier-free guidance towards property targets; ``finetune_adapters`` writes an adapted model
file from labeled structures.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Composition, Structure

from matterloop.data.properties import ConditionError
from matterloop.generator.compositions import (
    CompositionProposals,
    known_formulas,
    propose_compositions,
)
from matterloop.generator.conditioning import (
    AdaptedGenerator,
    Target,
    load_generator,
    parse_targets,
)
from matterloop.generator.conditioning.properties import element_numbers
from matterloop.generator.csp import (
    CompositionProjection,
    cell_atomic_numbers,
    draw_cell_size,
    parse_composition,
)
from matterloop.generator.devices import resolve_device
from matterloop.generator.pretrained import (
    default_arrangements,
    default_checkpoint,
    default_csp_checkpoint,
)
from matterloop.generator.sampling import GenerationResult, SamplerConfig, SamplingError, sample
from matterloop.generator.symmetry import ArrangementError, ArrangementTable, SymmetryProjection
from matterloop.generator.training.model_io import TrainedGenerator

MAX_RETRIES = 10
"""Batches in a row in which every crystal diverged before :func:`generate_batches` gives up."""
RETRY_SEED_STRIDE = 1_000_000_007

__all__ = ["GenerationResult", "generate"]

Generator = TrainedGenerator | AdaptedGenerator


def resolve_targets(generator: Generator, conditions: Mapping[str, object]) -> dict[str, Target]:
    """Targets of ``conditions`` for ``generator``; a base model takes none.

    Raises:
        ConditionError (a ValueError): conditions for a base model, unknown properties, bad
            values.
    """
    if not conditions:
        return {}
    if isinstance(generator, TrainedGenerator):
        raise ConditionError(
            "conditions need an adapted model (fine-tune one with `matterloop generator "
            "finetune` or finetune_adapters); this is a base model"
        )
    return parse_targets(generator.model.specs, conditions)


def generate_batches(
    generator: Generator,
    total: int,
    *,
    done: int = 0,
    config: SamplerConfig,
    targets: Mapping[str, Target] | None = None,
    guidance: float = 2.0,
    batch_size: int = 64,
    seed: int = 0,
    num_atoms: int | None = None,
    symmetric: bool = True,
    arrangements: ArrangementTable | None = None,
    composition: Composition | CompositionProposals | None = None,
    max_atoms: int | None = None,
) -> Iterator[tuple[GenerationResult, list[dict[str, object]]]]:
    """Batches of finished structures until ``total`` exist (``done`` of them already), with the
    targets each structure was drawn for; diverged crystals are replaced by later batches.

    A batch is seeded by ``seed`` and the count of structures before it, so a run continued from
    ``done`` draws what an uninterrupted one would. A batch in which every crystal diverged is
    drawn again with another seed, up to ``MAX_RETRIES`` times in a row. ``num_atoms`` fixes the
    atoms per cell (default: drawn from the training distribution, at most ``max_atoms`` when
    given; the other ways of choosing a cell's size ignore ``max_atoms``).

    With a space-group target and ``symmetric``, each crystal follows a template of that group
    drawn from the model's fine-tuning crystals (:func:`space_group_projection`): it is sampled
    in that group, with the template's atom count and Wyckoff positions; without ``symmetric``
    the adapter's guidance alone steers it. Otherwise, with ``arrangements``, each crystal
    follows a Wyckoff arrangement drawn from that table (of ``num_atoms`` atoms if given; see
    :mod:`matterloop.generator.symmetry.arrangements`); without, it is sampled free of constraints.

    With ``composition`` (crystal-structure prediction, :mod:`matterloop.generator.csp`) every
    crystal has exactly that composition: whole formula units, ``num_atoms`` atoms if given, else a
    cell size drawn from the training distribution among those that hold whole formula units. With
    :class:`~matterloop.generator.compositions.CompositionProposals` each crystal's composition is
    drawn from them first.

    Raises:
        ConditionError (a ValueError): a composition together with a space-group target or
            arrangements; a composition no cell of the model can hold.
    """
    targets = targets or {}
    if composition is not None and (arrangements is not None or "space_group" in targets):
        raise ConditionError(
            "a fixed composition (CSP) cannot be combined with a space-group target or Wyckoff "
            "arrangements yet"
        )
    retry = 0  # batches in a row in which every crystal diverged
    lost = 0  # crystals of those batches
    while done < total:
        size = min(batch_size, total - done)
        batch_seed = seed * 1_000_003 + done + RETRY_SEED_STRIDE * retry
        torch.manual_seed(batch_seed)
        rng = np.random.default_rng(batch_seed)
        drawn = {name: target.draw(size, rng) for name, target in targets.items()}
        projection = None
        if symmetric and "space_group" in drawn:
            projection = space_group_projection(
                generator, drawn["space_group"], rng, num_atoms, config.elements
            )
            counts = projection.num_atoms
        elif composition is not None:
            projection = composition_projection(generator, composition, size, rng, num_atoms)
            counts = projection.num_atoms
        elif arrangements is not None:
            projection = arrangement_projection(
                generator, arrangements, size, rng, num_atoms, config.elements
            )
            counts = projection.num_atoms
        elif num_atoms:
            counts = torch.full((size,), num_atoms)
        else:
            counts = generator.draw_num_atoms(
                size, torch.Generator().manual_seed(batch_seed), max_atoms
            )
        try:
            if isinstance(generator, TrainedGenerator):
                base, score_fn = generator.model, generator.model
            else:
                conditions = generator.model.encode(drawn, size)
                base = generator.model.base
                score_fn = generator.model.guided_score_fn(conditions, guidance if drawn else 1.0)
            if projection is not None:
                score_fn = projection.score_fn(score_fn)
            sampled = sample(base, counts, config, score_fn, projection)
        except SamplingError:
            retry, lost = retry + 1, lost + size
            if retry > MAX_RETRIES:
                raise
            continue
        info = [
            {f"target_{name}": values[int(i)] for name, values in drawn.items()}
            for i in sampled.kept
        ]
        result = GenerationResult(sampled.crystals.to_structures(), sampled.num_dropped + lost)
        retry = lost = 0
        done += len(result.structures)
        yield result, info


def space_group_projection(
    generator: AdaptedGenerator,
    space_groups: Sequence[object],
    rng: np.random.Generator,
    num_atoms: int | None = None,
    elements: Sequence[int] | None = None,
) -> SymmetryProjection:
    """The projection that keeps crystal ``b`` in space group ``space_groups[b]``, each with a
    template drawn uniformly from the generator's templates of that group (of ``num_atoms``
    atoms, if given), its atom types restricted to ``elements`` (atomic numbers) if given.

    Raises:
        ConditionError (a ValueError): a group without templates in the model.
    """
    chosen = []
    for group in space_groups:
        candidates = [
            t for t in generator.templates.get(int(group), []) if num_atoms in (None, t.num_atoms)
        ]
        if not candidates:
            atoms = f" with {num_atoms} atoms" if num_atoms else ""
            raise ConditionError(
                f"the model has no template of space group {group}{atoms}: none of its "
                "fine-tuning crystals had it; sample without the symmetry constraint "
                "(--free-symmetry) for the adapter's guidance alone"
            )
        chosen.append(candidates[int(rng.integers(len(candidates)))])
    parameter = next(generator.model.parameters())
    return SymmetryProjection(chosen, parameter.dtype, parameter.device, elements)


def composition_projection(
    generator: Generator,
    composition: Composition | CompositionProposals,
    size: int,
    rng: np.random.Generator,
    num_atoms: int | None = None,
) -> CompositionProjection:
    """The projection that gives each of ``size`` crystals ``composition`` (or one drawn from
    the proposals), in a cell size drawn from the training distribution among those holding
    whole formula units (``num_atoms`` if given)."""
    if isinstance(composition, CompositionProposals):
        chosen = composition.draw(size, rng)
    else:
        chosen = [composition] * size
    probabilities = generator.num_atoms_probabilities
    cells = [
        cell_atomic_numbers(each, draw_cell_size(each, probabilities, rng, num_atoms))
        for each in chosen
    ]
    base = generator.model if isinstance(generator, TrainedGenerator) else generator.model.base
    return CompositionProjection(
        cells,
        next(generator.model.parameters()).device,
        reveal_all=base.config.visible_types_fraction > 0,
    )


def arrangement_projection(
    generator: Generator,
    arrangements: ArrangementTable,
    size: int,
    rng: np.random.Generator,
    num_atoms: int | None = None,
    elements: Sequence[int] | None = None,
) -> SymmetryProjection:
    """The projection that keeps each of ``size`` crystals in a Wyckoff arrangement drawn from
    ``arrangements`` (of ``num_atoms`` atoms, if given), its atom types restricted to
    ``elements`` (atomic numbers) if given, and then to arrangements with at most that many
    element classes.

    Raises:
        ConditionError (a ValueError): no arrangement of the table meets the restrictions.
    """
    max_elements = None if elements is None else len(elements)
    try:
        templates = arrangements.draw_templates(size, rng, num_atoms, max_elements)
    except ArrangementError as error:
        raise ConditionError(f"{error}; sample with --free-symmetry instead") from error
    parameter = next(generator.model.parameters())
    return SymmetryProjection(templates, parameter.dtype, parameter.device, elements)


def generate(
    model_path: str | Path | None,
    count: int,
    *,
    steps: int = 100,
    conditions: Mapping[str, object] | None = None,
    guidance: float = 2.0,
    batch_size: int = 64,
    seed: int = 0,
    type_temperature: float = SamplerConfig.type_temperature,
    elements: str | Sequence[str] | None = None,
    symmetric: bool = True,
    wyckoff: bool = False,
    composition: str | None = None,
    num_atoms: int | None = None,
    compositions_first: bool = False,
    known_dataset: str | None = None,
    device: str = "auto",
    max_atoms: int | None = None,
) -> GenerationResult:
    """``count`` structures from a model file (``None``: the shipped base model).

    Args:
        conditions: property → target: a float (scalar), ``"Fe-O"`` (chemical system), an int
            (space group), or a range ``">0.15"``, ``"<1500"``, ``"0.1<x<0.2"``; needs an
            adapted model.
        guidance: γ of classifier-free guidance (1: conditional model, 0: unconditional).
        type_temperature: see :class:`~matterloop.generator.sampling.SamplerConfig`.
        elements: a chemical system (``"Li-Co-O"``) or element symbols that every structure's
            elements must come from (a hard restriction of the atom types; None: any element).
        symmetric: keep samples with a space-group target in that group (see
            :func:`generate_batches`).
        wyckoff: sample each crystal without a space-group target in a space group and
            Wyckoff arrangement drawn from the MP-20 training crystals
            (:mod:`matterloop.generator.symmetry.arrangements`). Off by default: on the shipped
            model it cut the P1 share from 68% to 13% but S.U.N. from 43% to 23% (``bench/sun.py``).
        composition: a formula (``"LiFePO4"``): crystal-structure prediction, every structure
            has exactly this composition (:mod:`matterloop.generator.csp`).
        num_atoms: atoms per cell (default: drawn from the training distribution).
        max_atoms: draw cell sizes from the training distribution up to this (free sampling;
            e.g. for plane-wave DFT, whose cost grows steeply with the atom count).
        compositions_first: with ``elements``, draw each structure's composition from the
            charge-balanced compositions of that system and its subsystems
            (:mod:`matterloop.generator.compositions`), away from those of ``known_dataset`` (e.g.
            ``"mp_20"``, read under the data dir), then sample its structure by CSP; without,
            the elements only restrict the atom types.
        device: where the network runs: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``,
            ``"cuda:N"``. A seed draws the same structures on the same device; a GPU and the
            CPU draw different ones.

    Raises:
        ConditionError (a ValueError): conditions for a base model, unknown properties, bad
            values, unknown elements.
        DeviceError (a MatterloopError): a device this machine does not have.
        SamplingError: every crystal diverged in more than ``MAX_RETRIES`` batches in a row.
    """
    fixed = composition is not None or (elements is not None and compositions_first)
    generator = load_generator(Path(model_path) if model_path else default_model(fixed))
    generator.model.to(resolve_device(device))
    targets = resolve_targets(generator, conditions or {})
    structures: list[Structure] = []
    dropped = 0
    for result, _ in generate_batches(
        generator,
        count,
        config=SamplerConfig(
            num_steps=steps,
            type_temperature=type_temperature,
            elements=None if elements is None else tuple(element_numbers(elements)),
        ),
        targets=targets,
        guidance=guidance,
        batch_size=batch_size,
        seed=seed,
        symmetric=symmetric,
        arrangements=default_arrangements() if wyckoff else None,
        composition=composition_request(
            generator,
            composition,
            elements,
            compositions_first,
            lambda: known_formulas(known_dataset) if known_dataset else set(),
        ),
        num_atoms=num_atoms,
        max_atoms=max_atoms,
    ):
        structures += result.structures
        dropped += result.num_dropped
    return GenerationResult(structures, dropped)


def default_model(fixed_compositions: bool) -> Path:
    """The shipped model for sampling: the CSP model when compositions are fixed (a formula, or
    a chemical system's proposals), else the base model."""
    return default_csp_checkpoint() if fixed_compositions else default_checkpoint()


def composition_request(
    generator: Generator,
    composition: str | None,
    elements: str | Sequence[str] | None,
    compositions_first: bool,
    known: Callable[[], Collection[str]] = set,
) -> Composition | CompositionProposals | None:
    """What sampling fixes the compositions to: the formula ``composition``, the proposals of
    the chemical system ``elements`` if ``compositions_first`` (away from the reduced formulas
    that ``known()`` returns, called only then), or nothing."""
    if composition is not None:
        return parse_composition(composition)
    if elements is None or not compositions_first:
        return None
    return propose_compositions(elements, generator.num_atoms_probabilities, known())
