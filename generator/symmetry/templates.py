"""Space-group templates: the symmetry operations of a training crystal, how they permute its
atoms, and its Wyckoff positions, without its elements.

A template is what symmetry-constrained sampling (:mod:`matterloop.generator.symmetry.projection`)
needs to generate a crystal of the same space group with the same Wyckoff positions: its atom count,
the rotations of its operations ``x → R x + t`` in the basis of its own (canonical) cell, for each
operation the atom each atom is sent to, and its atoms' positions, which fix the Wyckoff positions
(the free parameters are what sampling draws), and which of its atoms share an element (a Wyckoff
orbit always does; two orbits may). Its elements themselves are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import spglib
import torch

from matterloop.data.tensors import CrystalTensors

SYMPREC = 0.1
"""Å, the tolerance of the space-group analysis (as for space-group labels)."""
MAX_TEMPLATES_PER_GROUP = 32


@dataclass(frozen=True)
class SymmetryTemplate:
    """The symmetry of one crystal of ``N`` atoms in its own cell.

    Attributes:
        space_group: international number, 1-230.
        rotations: ``(m, 3, 3)`` long, fractional rotations ``R`` acting on column vectors.
        permutations: ``(m, N)`` long; operation ``k`` sends atom ``i`` to atom
            ``permutations[k, i]`` (``R x_i + t ≡ x_j`` mod 1).
        frac_coords: ``(N, 3)`` float64, the crystal's fractional coordinates.
        species: ``(N,)`` long, for each atom the first atom of the same element.
    """

    space_group: int
    rotations: torch.Tensor
    permutations: torch.Tensor
    frac_coords: torch.Tensor
    species: torch.Tensor

    @property
    def num_atoms(self) -> int:
        return int(self.permutations.shape[1])

    @classmethod
    def of_crystal(cls, crystal: CrystalTensors, tolerance: float = SYMPREC) -> SymmetryTemplate:
        """The template of ``crystal`` at ``tolerance`` Å.

        Raises:
            ValueError: spglib finds no symmetry, or an operation maps an atom onto no atom of its
                element within ``tolerance``.
        """
        lattice = crystal.lattice.double().numpy()
        frac = crystal.frac_coords.double().numpy()
        numbers = crystal.atomic_numbers.numpy()
        dataset = spglib.get_symmetry_dataset((lattice, frac, numbers), symprec=tolerance)
        if dataset is None:
            raise ValueError(f"spglib found no symmetry: {spglib.get_error_message()}")
        operations = list(zip(dataset.rotations, dataset.translations, strict=True))
        permutations = np.stack(
            [_permutation(frac, numbers, lattice, r, t, tolerance) for r, t in operations]
        )
        return cls(
            space_group=int(dataset.number),
            rotations=torch.as_tensor(dataset.rotations, dtype=torch.long),
            permutations=torch.as_tensor(permutations, dtype=torch.long),
            frac_coords=torch.as_tensor(_symmetrized(frac, operations, permutations)),
            species=torch.as_tensor([list(numbers).index(z) for z in numbers], dtype=torch.long),
        )

    def to_dict(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, data: dict) -> SymmetryTemplate:
        return cls(**data)


def _permutation(
    frac: np.ndarray,
    numbers: np.ndarray,
    lattice: np.ndarray,
    rotation: np.ndarray,
    translation: np.ndarray,
    tolerance: float,
) -> np.ndarray:
    """``(N,)`` the atom each atom is sent to by ``x → R x + t``."""
    image = frac @ rotation.T + translation
    difference = image[:, None, :] - frac[None, :, :]
    difference -= np.round(difference)
    distance = np.linalg.norm(difference @ lattice, axis=-1)  # (N, N) Å
    distance[numbers[:, None] != numbers[None, :]] = np.inf
    target = distance.argmin(axis=1)
    if distance[np.arange(len(frac)), target].max() > tolerance or len(set(target)) != len(frac):
        raise ValueError("a symmetry operation maps the atoms onto no permutation of them")
    return target


def _symmetrized(
    frac: np.ndarray, operations: list[tuple[np.ndarray, np.ndarray]], permutations: np.ndarray
) -> np.ndarray:
    """``(N, 3)`` positions ``frac`` made exactly invariant: each atom moved to the mean of its
    partners' images pulled back, ``x_i + mean_k w(R_k⁻¹ (x_{π_k(i)} - t_k) - x_i)``."""
    offsets = []
    for (rotation, translation), permutation in zip(operations, permutations, strict=True):
        pulled_back = (frac[permutation] - translation) @ np.linalg.inv(rotation).T
        offset = pulled_back - frac
        offsets.append(offset - np.round(offset))
    symmetric = frac + np.mean(offsets, axis=0)
    return symmetric - np.floor(symmetric)


def templates_by_group(
    crystals: Iterable[CrystalTensors],
    space_groups: Iterable[int | None],
    per_group: int = MAX_TEMPLATES_PER_GROUP,
) -> dict[int, list[SymmetryTemplate]]:
    """Up to ``per_group`` templates of each space group among ``crystals`` (the first ones in
    order), whose space groups (labels, ``None`` where unknown) are ``space_groups``; crystals
    whose analysis fails, or finds another group, are skipped."""
    groups: dict[int, list[SymmetryTemplate]] = {}
    for crystal, label in zip(crystals, space_groups, strict=True):
        if label is None or len(groups.get(label, ())) >= per_group:
            continue
        try:
            template = SymmetryTemplate.of_crystal(crystal)
        except ValueError:
            continue
        if template.space_group == label:
            groups.setdefault(label, []).append(template)
    return groups
