"""Compositions first: what a chemical system's candidates should be made of.

Restricting the atom types to a system does not make the model's composition prior fit it
(a Li-Fe-P-O campaign proposed LiO4, PO15 and O2). :func:`propose_compositions` instead lists
the compositions a chemist would consider — every stoichiometry of the system and its
subsystems of two or more elements with at most ``MAX_ATOMS`` atoms per formula unit that SMACT
finds charge-balanced in common oxidation states (``OXIDATION_STATES``, one per element),
with the Pauling electronegativity test (``smact_validity``; an intermetallic system, without
nonmetals, counts every stoichiometry) — and weighs them:

* by element count: the full system weighted ``ELEMENT_COUNT_WEIGHT`` times its subsystems of
  one element fewer, so that binaries do not crowd out ternaries and quaternaries;
* by formula-unit size: in proportion to how many of the training distribution's cells hold a
  whole number of formula units, which favours small units as the data do;
* away from what is known: a composition that has a structure in the reference set (MP-20)
  weighs ``KNOWN_WEIGHT`` of an unknown one.

Structures are then sampled for the drawn compositions by crystal-structure prediction
(:mod:`matterloop.generator.csp`).
"""

from __future__ import annotations

import gzip
import itertools
import math
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition, Element
from smact.screening import smact_validity

from matterloop.core.errors import DataError
from matterloop.data.paths import canonical_dataset_name, resolve_data_dir
from matterloop.data.properties import ConditionError
from matterloop.generator.conditioning.properties import element_numbers
from matterloop.generator.csp import MAX_ATOMS

ELEMENT_COUNT_WEIGHT = 6.0
"""Weight of the compositions of ``k + 1`` elements against those of ``k`` (all together)."""
KNOWN_WEIGHT = 0.05
"""Weight of a composition known with a structure, against an unknown one."""
MAX_SYSTEM_ELEMENTS = 5
OXIDATION_STATES = "pymatgen_sp"
"""SMACT's set of common oxidation states (from pymatgen's structure predictor). SMACT's
default set also admits rare states (it finds LiFe7PO5 and Li11Fe2P2O charge-balanced); this one
keeps the common phosphates and oxides and drops them. Mixed valence (Fe3O4) is left out: with
it SMACT also admits FeO2 and Fe3O7, and the enumeration takes minutes."""


@dataclass(frozen=True)
class CompositionProposals:
    """Compositions (reduced) of a chemical system and how often to propose each.

    Attributes:
        system: the system's element symbols, sorted.
        compositions: the candidate compositions.
        weights: ``(C,)`` probabilities, summing to 1.
    """

    system: tuple[str, ...]
    compositions: tuple[Composition, ...]
    weights: np.ndarray

    def draw(self, size: int, rng: np.random.Generator) -> list[Composition]:
        """``size`` compositions drawn in proportion to :attr:`weights`."""
        chosen = rng.choice(len(self.compositions), size=size, p=self.weights)
        return [self.compositions[int(i)] for i in chosen]

    def share(self, predicate) -> float:
        """The probability that a drawn composition meets ``predicate``."""
        return float(
            sum(w for c, w in zip(self.compositions, self.weights, strict=True) if predicate(c))
        )


def propose_compositions(
    system: str | Sequence[str],
    num_atoms_probabilities: Sequence[float],
    known: Collection[str] = (),
) -> CompositionProposals:
    """The weighted compositions of ``system`` (see the module docstring).

    Args:
        system: ``"Li-Fe-P-O"`` or element symbols.
        num_atoms_probabilities: the training distribution of atoms per cell (index: count).
        known: reduced formulas known with a structure.

    Raises:
        ConditionError (a ValueError): unknown elements, more than ``MAX_SYSTEM_ELEMENTS``, or
            no charge-balanced composition of two or more of the system's elements.
    """
    symbols = tuple(sorted(Element.from_Z(z).symbol for z in element_numbers(system)))
    if len(symbols) > MAX_SYSTEM_ELEMENTS:
        raise ConditionError(
            f"{'-'.join(symbols)}: composition proposals take at most {MAX_SYSTEM_ELEMENTS} "
            "elements"
        )
    compositions = balanced_compositions(symbols)
    if not compositions:
        raise ConditionError(
            f"no charge-balanced composition of two or more of {'-'.join(symbols)} with at most "
            f"{MAX_ATOMS} atoms per formula unit (SMACT oxidation states and electronegativity): "
            "nothing to propose"
        )
    probabilities = np.asarray(num_atoms_probabilities, dtype=np.float64)
    known_formulas = set(known)
    raw = np.empty(len(compositions))
    for index, composition in enumerate(compositions):
        unit = round(composition.num_atoms)
        fits = probabilities[unit : MAX_ATOMS + 1 : unit].sum()
        novelty = KNOWN_WEIGHT if composition.reduced_formula in known_formulas else 1.0
        raw[index] = fits * novelty
    counts = np.array([len(c) for c in compositions])
    weights = np.zeros_like(raw)
    for k in np.unique(counts):
        group = counts == k
        if raw[group].sum() > 0:
            weights[group] = raw[group] / raw[group].sum() * ELEMENT_COUNT_WEIGHT ** float(k)
    return CompositionProposals(symbols, compositions, weights / weights.sum())


@lru_cache(maxsize=64)
def balanced_compositions(symbols: tuple[str, ...]) -> tuple[Composition, ...]:
    """Reduced compositions of two or more of ``symbols`` with at most ``MAX_ATOMS`` atoms
    per formula unit that SMACT accepts; alloys count only where no symbol is a nonmetal."""
    alloys = all(Element(symbol).is_metal for symbol in symbols)
    found = []
    for size in range(2, len(symbols) + 1):
        for subset in itertools.combinations(symbols, size):
            for amounts in itertools.product(range(1, MAX_ATOMS), repeat=size):
                if sum(amounts) > MAX_ATOMS or math.gcd(*amounts) != 1:
                    continue
                composition = Composition(dict(zip(subset, amounts, strict=True)))
                if smact_validity(
                    composition,
                    include_alloys=alloys,
                    oxidation_states_set=OXIDATION_STATES,
                ):
                    found.append(composition)
    return tuple(found)


def known_formulas(dataset: str = "mp_20", data_dir: str | Path | None = None) -> set[str]:
    """Reduced formulas of every entry of ``dataset`` (``properties_all.csv.gz`` under the data
    dir: all MP-20 entries, with positions here or not; each is a known material).

    Raises:
        DataError: no such file.
    """
    path = resolve_data_dir(data_dir) / canonical_dataset_name(dataset) / "properties_all.csv.gz"
    if not path.is_file():
        raise DataError(f"{path}: no entry table of {dataset} to tell known compositions")
    with gzip.open(path, "rt") as handle:
        formulas = pd.read_csv(handle, usecols=["formula"])["formula"].unique()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen: noble gases have no electronegativity
        return {Composition(formula).reduced_formula for formula in formulas}
