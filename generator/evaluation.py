"""Quality of generated crystals: validity, uniqueness, novelty and distribution distances.

Definitions follow CDVAE/MatterGen:

* structural validity: every interatomic distance (periodic images included) ≥ 0.5 Å and cell
  volume ≥ 0.1 Å³ (and at most ``MAX_VOLUME_PER_ATOM`` per atom);
* compositional validity: SMACT charge neutrality with the Pauling electronegativity test
  (``smact.screening.smact_validity``; pure metals and alloys count as valid). SMACT enumerates
  oxidation-state combinations, which grows combinatorially with the number of elements (minutes
  for one 10-element formula); no MP-20 crystal has more than 7 elements, so a composition with
  more than ``MAX_SMACT_ELEMENTS`` is counted invalid without enumeration;
* uniqueness: a sample is unique if no earlier sample matches it; novelty: no reference structure
  matches it — both with pymatgen's ``StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5)``;
* a sample whose reduced formula belongs to a reference entry without a known structure (MP-20
  entries whose positions are not available) cannot be judged novel or not; it is counted
  separately as ``formula_in_unstructured_reference`` and its :class:`Novelty` is
  ``formula_without_structure``, which S.U.N. does *not* count as novel (``sun_upper`` does);
* symmetry: the space group of each generated cell (spglib, symprec 0.1) and the share in P1;
* Wasserstein distances between the samples' and the reference's distributions of atoms per cell,
  of distinct elements per cell, and of atomic numbers over all atoms.

Further per-structure metrics (stability and RMSD from an oracle) plug in as
:class:`StructureMetric` callables. A metric that relaxes the samples returns each relaxed
structure under ``relaxed_structure``: uniqueness and novelty are then judged **after
relaxation**, as MatterGen judges them (a cell that relaxes into a known phase is known), and the
verdict on the generated cells is kept as ``novel_as_generated``. With a ``stable`` column,
``sun`` marks samples that are stable, unique and novel.
"""

from __future__ import annotations

import enum
import gzip
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Composition, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
from scipy.stats import wasserstein_distance
from smact.screening import smact_validity

from matterloop.data import CrystalDataset, load_dataset_split, resolve_data_dir
from matterloop.data.paths import SPLITS, canonical_dataset_name
from matterloop.data.readers import MIN_INTERATOMIC_DISTANCE

MIN_VOLUME = 0.1  # Å³
MAX_VOLUME_PER_ATOM = 500.0  # Å³; the loosest element crystal, bcc Cs, has 116 Å³ per atom
MAX_SMACT_ELEMENTS = 8
MATCHER_SETTINGS = {"ltol": 0.2, "stol": 0.3, "angle_tol": 5}
SYMPREC = 0.1  # Å, spglib's tolerance for the space group of a generated cell

StructureMetric = Callable[[Sequence[Structure]], list[dict[str, object]]]
"""Per-structure values for a list of samples, e.g. ``{"e_above_hull": 0.03, "stable": True}``;
optionally the relaxed structure under ``relaxed_structure``."""


class Novelty(enum.StrEnum):
    """What a (relaxed) structure is against a reference set and earlier structures."""

    NOVEL = "novel"
    """No reference structure and no earlier structure matches it, and its formula is not one of
    a reference entry without positions."""
    KNOWN = "known"
    """It matches a reference structure."""
    REPEAT = "repeat"
    """It matches an earlier structure (e.g. an earlier label of the same campaign)."""
    FORMULA_WITHOUT_STRUCTURE = "formula_without_structure"
    """No structure matches, but its reduced formula is a reference entry's whose positions are
    not available: it may be that entry."""


@dataclass
class ReferenceSet:
    """What novelty and distribution distances are measured against.

    Attributes:
        structures: reference crystals.
        unstructured_formulas: reduced formulas of entries whose structure is not available.
        name: for reports.
    """

    structures: CrystalDataset
    unstructured_formulas: set[str] = field(default_factory=set)
    name: str = "reference"

    def __post_init__(self) -> None:
        self.by_formula: dict[str, list[int]] = defaultdict(list)
        offsets = self.structures.offsets
        for index in range(len(self.structures)):
            numbers = self.structures.atomic_numbers[offsets[index] : offsets[index + 1]]
            formula = Composition(dict(zip(*np.unique(numbers, return_counts=True), strict=True)))
            self.by_formula[formula.reduced_formula].append(index)


def load_reference(name: str, data_dir: str | Path | None = None) -> ReferenceSet:
    """All structures of every split of ``name`` plus the formulas of its structureless entries."""
    dataset = canonical_dataset_name(name)
    parts = [load_dataset_split(dataset, split, data_dir) for split in SPLITS]
    structures = CrystalDataset.concatenate(parts)
    labels = resolve_data_dir(data_dir) / dataset / "properties_all.csv.gz"
    unstructured: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen: noble gases have no electronegativity
        if labels.is_file():
            with gzip.open(labels, "rt") as handle:
                table = pd.read_csv(handle, usecols=["formula", "has_structure"])
            missing = table.loc[~table["has_structure"].astype(bool), "formula"]
            unstructured = {Composition(f).reduced_formula for f in missing.unique()}
        return ReferenceSet(structures, unstructured, dataset)


def structurally_valid(structure: Structure) -> bool:
    """No two atoms, nor an atom and its own periodic image, closer than 0.5 Å, and a cell volume
    between 0.1 Å³ and ``MAX_VOLUME_PER_ATOM`` per atom (a sampler that diverged can end with
    cells of 10¹¹ Å, on which neighbour searches cannot run)."""
    volume = structure.volume
    if not MIN_VOLUME <= volume <= MAX_VOLUME_PER_ATOM * len(structure):
        return False
    if min(structure.lattice.get_lll_reduced_lattice().abc) < MIN_INTERATOMIC_DISTANCE:
        return False
    if len(structure) < 2:
        return True
    distances = structure.distance_matrix[np.triu_indices(len(structure), k=1)]
    return bool(distances.min() >= MIN_INTERATOMIC_DISTANCE)


def compositionally_valid(structure: Structure) -> bool:
    if len(structure.composition.elements) > MAX_SMACT_ELEMENTS:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen warns on elements without electronegativity
        return bool(smact_validity(structure.composition))


def unique_flags(structures: Sequence[Structure], matcher: StructureMatcher) -> list[bool]:
    """True for each structure that matches no earlier one."""
    flags = [True] * len(structures)
    by_formula: dict[str, list[int]] = defaultdict(list)
    for index, structure in enumerate(structures):
        formula = structure.composition.reduced_formula
        flags[index] = not any(matcher.fit(structures[j], structure) for j in by_formula[formula])
        by_formula[formula].append(index)
    return flags


def novel_flags(
    structures: Sequence[Structure], reference: ReferenceSet, matcher: StructureMatcher
) -> list[bool]:
    """True for each structure that matches no reference structure."""
    return [
        not any(
            matcher.fit(reference.structures.structure(j), structure)
            for j in reference.by_formula.get(structure.composition.reduced_formula, ())
        )
        for structure in structures
    ]


def novelty_of(
    structure: Structure,
    reference: ReferenceSet | None,
    earlier: Sequence[Structure],
    matcher: StructureMatcher,
) -> Novelty:
    """The :class:`Novelty` of ``structure`` against ``reference`` (None: no reference set) and
    the ``earlier`` structures; a match to the reference wins over one to an earlier structure."""
    formula = structure.composition.reduced_formula
    if reference is not None and not novel_flags([structure], reference, matcher)[0]:
        return Novelty.KNOWN
    if any(e.composition.reduced_formula == formula and matcher.fit(e, structure) for e in earlier):
        return Novelty.REPEAT
    if reference is not None and formula in reference.unstructured_formulas:
        return Novelty.FORMULA_WITHOUT_STRUCTURE
    return Novelty.NOVEL


def space_group_number(structure: Structure) -> int:
    """spglib's space-group number of ``structure`` at :data:`SYMPREC` (1 when spglib fails)."""
    try:
        return int(SpacegroupAnalyzer(structure, symprec=SYMPREC).get_space_group_number())
    except Exception:  # spglib raises on degenerate cells (overlapping atoms, flat cells)
        return 1


def distribution_distances(structures: Sequence[Structure], reference: ReferenceSet) -> dict:
    ref = reference.structures
    offsets = ref.offsets
    ref_elements = [
        len(np.unique(ref.atomic_numbers[offsets[i] : offsets[i + 1]])) for i in range(len(ref))
    ]
    return {
        "wasserstein_num_atoms": wasserstein_distance([len(s) for s in structures], ref.num_atoms),
        "wasserstein_num_elements": wasserstein_distance(
            [len(s.composition.elements) for s in structures], ref_elements
        ),
        "wasserstein_atomic_number": wasserstein_distance(
            [z for s in structures for z in s.atomic_numbers], ref.atomic_numbers
        ),
    }


@dataclass
class EvaluationReport:
    """Per-structure rows and aggregated metrics (fractions in [0, 1], distances)."""

    per_structure: list[dict]
    summary: dict[str, float]


def evaluate_samples(
    structures: Sequence[Structure],
    reference: ReferenceSet,
    names: Sequence[str] | None = None,
    extra_metrics: Sequence[StructureMetric] = (),
) -> EvaluationReport:
    """Evaluate generated ``structures`` against ``reference`` (see the module docstring)."""
    if not structures:
        raise ValueError("no structures to evaluate")
    names = list(names or [f"sample_{i:05d}" for i in range(len(structures))])
    matcher = StructureMatcher(**MATCHER_SETTINGS)
    rows = []
    for index, structure in enumerate(structures):
        formula = structure.composition.reduced_formula
        group = space_group_number(structure)
        rows.append(
            {
                "name": names[index],
                "formula": formula,
                "num_atoms": len(structure),
                "num_elements": len(structure.composition.elements),
                "space_group": group,
                "p1": group == 1,
                "structurally_valid": structurally_valid(structure),
                "compositionally_valid": compositionally_valid(structure),
                "formula_in_unstructured_reference": formula in reference.unstructured_formulas,
            }
        )
    judged = list(structures)
    for metric in extra_metrics:
        for index, (row, values) in enumerate(zip(rows, metric(structures), strict=True)):
            values = dict(values)
            relaxed = values.pop("relaxed_structure", None)
            if relaxed is not None:
                judged[index] = relaxed
            row.update(values)
    relaxed = any(j is not s for j, s in zip(judged, structures, strict=True))
    if relaxed:
        for row, novel in zip(rows, novel_flags(structures, reference, matcher), strict=True):
            row["novel_as_generated"] = novel
    unique = unique_flags(judged, matcher)
    for row, structure, is_unique in zip(rows, judged, unique, strict=True):
        novelty = novelty_of(structure, reference, (), matcher)
        row["unique"] = is_unique
        row["novelty"] = novelty.value
        row["novel"] = novelty is Novelty.NOVEL
        if "stable" in row:
            row["sun"] = bool(row["stable"] and is_unique and row["novel"])
            row["sun_upper"] = bool(
                row["stable"]
                and is_unique
                and novelty in (Novelty.NOVEL, Novelty.FORMULA_WITHOUT_STRUCTURE)
            )
    return EvaluationReport(rows, summarize(rows, structures, reference))


def summarize(
    rows: Sequence[dict], structures: Sequence[Structure], reference: ReferenceSet
) -> dict[str, float]:
    """Fractions of the boolean columns (``<column>_fraction``), means of the numeric ones
    (``mean_<column>``; RMSD with failed matches at the cap), the share of failed RMSD matches,
    and the distribution distances."""
    table = pd.DataFrame(rows)
    flags = [c for c in table.columns if table[c].dtype == bool]
    summary = {f"{c}_fraction": float(table[c].mean()) for c in flags}
    summary.update(
        {
            f"mean_{c}": float(table[c].mean())
            for c in table.columns
            if c not in flags
            and c not in ("name", "formula", "space_group")
            and pd.api.types.is_numeric_dtype(table[c])
        }
    )
    if "rmsd_matched" in table:
        summary["rmsd_failed_fraction"] = 1.0 - summary.pop("rmsd_matched_fraction")
    summary["num_structures"] = len(structures)
    summary.update(distribution_distances(structures, reference))
    return summary
