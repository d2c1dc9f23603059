"""Crystals as tensors, and batches of them.

A batch concatenates the atoms of ``B`` crystals (``n`` atoms in all), the layout of PyTorch
Geometric: per-atom tensors are indexed by atom, per-crystal tensors by crystal, and ``batch`` maps
each atom to its crystal. Lattice matrices hold the lattice vectors as rows, in Å.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from pymatgen.core import Lattice, Structure


@dataclass
class CrystalTensors:
    """One crystal.

    Attributes:
        atomic_numbers: ``(N,)`` long, Z of each site.
        frac_coords: ``(N, 3)`` fractional coordinates in [0, 1).
        lattice: ``(3, 3)`` lattice vectors as rows, Å.
        properties: scalar labels by name; ``nan`` where missing.
    """

    atomic_numbers: torch.Tensor
    frac_coords: torch.Tensor
    lattice: torch.Tensor
    properties: dict[str, float] = field(default_factory=dict)

    @property
    def num_atoms(self) -> int:
        return int(self.atomic_numbers.shape[0])


@dataclass
class CrystalBatch:
    """``B`` crystals with ``n`` atoms in all.

    Attributes:
        atomic_numbers: ``(n,)`` long.
        frac_coords: ``(n, 3)`` in [0, 1).
        lattice: ``(B, 3, 3)``, rows are lattice vectors in Å.
        num_atoms: ``(B,)`` long, atoms per crystal.
        batch: ``(n,)`` long, index of each atom's crystal.
        properties: name -> ``(B,)`` float labels, ``nan`` where missing.
    """

    atomic_numbers: torch.Tensor
    frac_coords: torch.Tensor
    lattice: torch.Tensor
    num_atoms: torch.Tensor
    batch: torch.Tensor
    properties: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def num_crystals(self) -> int:
        return int(self.num_atoms.shape[0])

    def to(self, device: torch.device | str) -> CrystalBatch:
        """A copy with every tensor on ``device``."""
        return CrystalBatch(
            atomic_numbers=self.atomic_numbers.to(device),
            frac_coords=self.frac_coords.to(device),
            lattice=self.lattice.to(device),
            num_atoms=self.num_atoms.to(device),
            batch=self.batch.to(device),
            properties={k: v.to(device) for k, v in self.properties.items()},
        )

    def to_structures(self) -> list[Structure]:
        """The crystals as pymatgen Structures (float64 coordinates)."""
        numbers = self.atomic_numbers.detach().cpu().split(self.num_atoms.tolist())
        coords = self.frac_coords.detach().cpu().double().split(self.num_atoms.tolist())
        lattices = self.lattice.detach().cpu().double()
        return [
            tensors_to_structure(z, x, lattice)
            for z, x, lattice in zip(numbers, coords, lattices, strict=True)
        ]


def structure_to_tensors(
    structure: Structure,
    properties: Mapping[str, float] | None = None,
    dtype: torch.dtype = torch.float32,
) -> CrystalTensors:
    """Tensors of an ordered structure (no site properties are kept)."""
    if not structure.is_ordered:
        raise ValueError("structure has partially occupied sites; tensors need an ordered crystal")
    return CrystalTensors(
        atomic_numbers=torch.tensor(structure.atomic_numbers, dtype=torch.long),
        frac_coords=torch.tensor(structure.frac_coords % 1.0, dtype=dtype),
        lattice=torch.tensor(structure.lattice.matrix, dtype=dtype),
        properties=dict(properties or {}),
    )


def tensors_to_structure(
    atomic_numbers: torch.Tensor, frac_coords: torch.Tensor, lattice: torch.Tensor
) -> Structure:
    """A Structure from ``(N,)`` Z, ``(N, 3)`` fractional coordinates and a ``(3, 3)`` lattice."""
    return Structure(
        Lattice(lattice.detach().cpu().double().numpy()),
        atomic_numbers.detach().cpu().tolist(),
        frac_coords.detach().cpu().double().numpy(),
    )


def collate(items: Sequence[CrystalTensors]) -> CrystalBatch:
    """Concatenate crystals into one :class:`CrystalBatch` (a ``DataLoader`` ``collate_fn``).

    Every property named by any item appears in the batch, ``nan`` for items that lack it.
    """
    if not items:
        raise ValueError("cannot collate an empty list of crystals")
    num_atoms = torch.tensor([item.num_atoms for item in items], dtype=torch.long)
    names = sorted({name for item in items for name in item.properties})
    dtype = items[0].frac_coords.dtype
    return CrystalBatch(
        atomic_numbers=torch.cat([item.atomic_numbers for item in items]),
        frac_coords=torch.cat([item.frac_coords for item in items]),
        lattice=torch.stack([item.lattice for item in items]),
        num_atoms=num_atoms,
        batch=torch.repeat_interleave(torch.arange(len(items)), num_atoms),
        properties={
            name: torch.tensor([item.properties.get(name, math.nan) for item in items], dtype=dtype)
            for name in names
        },
    )
