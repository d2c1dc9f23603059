"""Which generated structures are worth scoring: :func:`filter_candidates`.

A candidate is kept when it is structurally valid (interatomic distances ≥ 0.5 Å, volume ≥ 0.1
Å³), has no more sites than allowed, has at least and at most given numbers of elements, holds
none of the excluded elements (e.g. the radioactive ones), is charge-balanced if required
(SMACT), has every computed quantity defined (e.g. HHI), matches no earlier candidate and no
labeled structure, and (with a reference set) is novel. Matching is pymatgen's
``StructureMatcher`` with MatterGen's tolerances (ltol 0.2, stol 0.3, angle 5°).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from matterloop.agent.campaign.sections import FilterSettings
from matterloop.core.errors import UndefinedQuantity
from matterloop.data.computed import computed_values
from matterloop.generator.evaluation import (
    ReferenceSet,
    compositionally_valid,
    novel_flags,
    structurally_valid,
    unique_flags,
)


def matcher() -> StructureMatcher:
    return StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)


@dataclass
class FilterReport:
    """How many candidates each check removed, in the order the checks run."""

    generated: int = 0
    invalid: int = 0
    too_many_atoms: int = 0
    too_few_elements: int = 0
    too_many_elements: int = 0
    excluded_element: int = 0
    not_charge_balanced: int = 0
    undefined_quantity: int = 0
    duplicate: int = 0
    already_labeled: int = 0
    not_novel: int = 0
    kept: int = 0


@dataclass
class Candidates:
    """The kept structures and their computed quantities (``values[name]`` is ``(n,)``)."""

    structures: list[Structure]
    values: dict[str, list[float]]
    report: FilterReport = field(default_factory=FilterReport)


def filter_candidates(
    generated: Sequence[Structure],
    labeled: Sequence[Structure],
    computed: Sequence[str],
    settings: FilterSettings,
    reference: ReferenceSet | None = None,
) -> Candidates:
    """The candidates of ``generated`` that pass every check of the module docstring."""
    report = FilterReport(generated=len(generated))
    kept: list[Structure] = []
    values: dict[str, list[float]] = {name: [] for name in computed}
    rows: list[dict[str, float]] = []
    excluded = set(settings.exclude_elements)
    for structure in generated:
        if not structurally_valid(structure):
            report.invalid += 1
            continue
        if settings.max_atoms is not None and len(structure) > settings.max_atoms:
            report.too_many_atoms += 1
            continue
        num_elements = len(structure.composition.elements)
        if num_elements < settings.min_elements:
            report.too_few_elements += 1
            continue
        if num_elements > settings.max_elements:
            report.too_many_elements += 1
            continue
        if excluded & {el.symbol for el in structure.composition.elements}:
            report.excluded_element += 1
            continue
        if settings.require_smact and not compositionally_valid(structure):
            report.not_charge_balanced += 1
            continue
        try:
            rows.append(computed_values(structure, list(computed)))
        except UndefinedQuantity:
            report.undefined_quantity += 1
            continue
        kept.append(structure)
    match = matcher()
    unique = unique_flags(kept, match)
    known = unique_flags([*labeled, *kept], match)[len(labeled) :]
    novel = novel_flags(kept, reference, match) if reference is not None else [True] * len(kept)
    final: list[Structure] = []
    for structure, row, is_unique, is_new, is_novel in zip(
        kept, rows, unique, known, novel, strict=True
    ):
        if not is_unique:
            report.duplicate += 1
        elif not is_new:
            report.already_labeled += 1
        elif not is_novel:
            report.not_novel += 1
        else:
            final.append(structure)
            for name in computed:
                values[name].append(row[name])
    report.kept = len(final)
    return Candidates(final, values, report)
