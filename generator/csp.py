"""Crystal-structure prediction (CSP): sampling with the atom types fixed to a composition, so that
only the lattice and the coordinates are generated (DiffCSP's task).

A model trained with visible types (``DiffusionModelConfig.visible_types_fraction``, e.g. the
shipped base fine-tuned by ``configs/generator/csp.yaml``) has learned the lattice and
coordinates given the types: every atom's type is shown from the first step. The plain joint
model needs no second network either. Its atom types follow an absorbing-state diffusion
(:mod:`matterloop.generator.diffusion.atom_types`): the reverse process decides *when* an atom
leaves [MASK] independently of *which* element it becomes. :class:`CompositionProjection` then keeps
the reverse process's own schedule of masked atoms and gives every atom it unmasks the element of
the target composition, so at each step the network sees partly masked types of the marginal it was
trained on, revealing the composition as the noise falls (inpainting, as in RePaint). Either way the
crystal ends with exactly the requested atoms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from pymatgen.core import Composition, Element

from matterloop.data.properties import ConditionError
from matterloop.generator.diffusion.atom_types import MASK_TOKEN, MAX_Z, atomic_numbers_to_tokens
from matterloop.generator.model import CrystalState, ScoreOutput
from matterloop.generator.sampling import ScoreFn
from matterloop.generator.symmetry.projection import EXCLUDED_LOGIT

MAX_ATOMS = 20
"""Atoms per cell of the training data (MP-20); larger cells are refused."""


def parse_composition(formula: str | Composition) -> Composition:
    """The composition of ``formula`` (``"LiFePO4"``, ``"Li4Fe4P4O16"``).

    Raises:
        ConditionError (a ValueError): not a formula, fractional amounts, or elements beyond
            the model's vocabulary.
    """
    try:
        composition = Composition(formula)
    except (ValueError, KeyError) as error:
        raise ConditionError(f"not a chemical formula: {formula!r} ({error})") from error
    if not composition.num_atoms or any(
        abs(amount - round(amount)) > 1e-6 for amount in composition.values()
    ):
        raise ConditionError(f"{formula!r}: give whole numbers of atoms (e.g. LiFePO4)")
    unknown = [str(el) for el in composition if not isinstance(el, Element)]
    if unknown:
        raise ConditionError(f"{formula!r}: unknown element {', '.join(unknown)}")
    beyond = [el.symbol for el in composition if el.Z > MAX_Z]
    if beyond:
        raise ConditionError(f"{formula!r}: the model has no element {', '.join(beyond)}")
    return composition


def cell_atom_counts(composition: Composition, num_atoms: int | None = None) -> list[int]:
    """Atom counts of cells holding whole formula units of ``composition`` (reduced), up to
    ``MAX_ATOMS``; only ``num_atoms`` if given.

    Raises:
        ConditionError: ``num_atoms`` is not a whole number of formula units, or one formula
            unit has more than ``MAX_ATOMS`` atoms.
    """
    unit = round(composition.reduced_composition.num_atoms)
    if num_atoms is not None:
        if num_atoms % unit or not 0 < num_atoms <= MAX_ATOMS:
            raise ConditionError(
                f"{num_atoms} atoms are not a whole number of {composition.reduced_formula} "
                f"formula units ({unit} atoms each) within {MAX_ATOMS} atoms"
            )
        return [num_atoms]
    if unit > MAX_ATOMS:
        raise ConditionError(
            f"one formula unit of {composition.reduced_formula} has {unit} atoms; the model "
            f"generates cells of at most {MAX_ATOMS}"
        )
    return list(range(unit, MAX_ATOMS + 1, unit))


def cell_atomic_numbers(composition: Composition, num_atoms: int) -> list[int]:
    """``num_atoms`` atomic numbers with the proportions of ``composition``, element by element
    (``num_atoms`` must hold whole formula units; see :func:`cell_atom_counts`)."""
    reduced = composition.reduced_composition
    units = num_atoms // round(reduced.num_atoms)
    return [el.Z for el, amount in reduced.items() for _ in range(units * round(amount))]


class CompositionProjection:
    """Keeps the atom types of a batch of ``B`` crystals on given atomic numbers.

    Attributes:
        num_atoms: ``(B,)`` atom counts, the counts to sample.
        coordinate_noise_scale: 1 (coordinates are left alone).
        tokens: ``(n,)`` the target type token of each atom.
    """

    def __init__(
        self,
        atomic_numbers: Sequence[Sequence[int]],
        device: torch.device | str = "cpu",
        reveal_all: bool = False,
    ) -> None:
        """Args:
        atomic_numbers: for each crystal, the atomic number of each of its atoms.
        reveal_all: show every atom's type from the first step, for a model trained with
            visible types (``DiffusionModelConfig.visible_types_fraction``); otherwise types
            are revealed as the reverse process unmasks them.
        """
        self.reveal_all = reveal_all
        self.num_atoms = torch.tensor([len(z) for z in atomic_numbers], device=device)
        flat = torch.tensor([z for crystal in atomic_numbers for z in crystal], device=device)
        self.tokens = atomic_numbers_to_tokens(flat)
        self.coordinate_noise_scale = torch.ones(1, device=device)

    def __call__(self, state: CrystalState) -> CrystalState:
        """``state`` with every unmasked atom given its target element."""
        if not torch.equal(state.num_atoms, self.num_atoms):
            raise ValueError(
                f"atom counts {state.num_atoms.tolist()} are not the requested "
                f"{self.num_atoms.tolist()}"
            )
        if self.reveal_all:
            return replace(state, tokens=self.tokens)
        masked = state.tokens == MASK_TOKEN
        return replace(state, tokens=torch.where(masked, state.tokens, self.tokens))

    def score_fn(self, score_fn: ScoreFn) -> ScoreFn:
        """``score_fn`` with each atom's type logits on its target element alone, so that the
        reverse kernel draws it (the projection then changes nothing)."""

        def fixed(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
            scores = score_fn(state, t)
            target = torch.nn.functional.one_hot(self.tokens, scores.type_logits.shape[-1]).bool()
            logits = scores.type_logits.masked_fill(~target, EXCLUDED_LOGIT)
            return replace(scores, type_logits=logits)

        return fixed


def draw_cell_size(
    composition: Composition,
    probabilities: Sequence[float],
    rng: np.random.Generator,
    num_atoms: int | None = None,
) -> int:
    """An atom count for a cell of ``composition`` (:func:`cell_atom_counts`), drawn in
    proportion to the training distribution ``probabilities`` (index: atoms per cell) among
    them, uniformly if it gives them no weight."""
    sizes = cell_atom_counts(composition, num_atoms)
    weights = np.array([probabilities[n] if n < len(probabilities) else 0.0 for n in sizes])
    if weights.sum() <= 0:
        weights = np.ones(len(sizes))
    return sizes[int(rng.choice(len(sizes), p=weights / weights.sum()))]
