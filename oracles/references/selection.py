"""Which structures a reference hull is computed from: dataset entries and elemental references.

Entries are read as :func:`matterloop.data.load_dataset_split` gives them (Niggli-reduced
primitive cells; the energy per atom does not depend on the cell chosen). The elemental reference of
an element is its pure-element entry with the lowest Materials Project formation energy per atom
(eV/atom) among all splits with positions, whatever splits the entries come from, so that every
element of the entries has a reference even when ``--limit`` keeps a few entries only.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Element, Structure

from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.data.paths import SPLITS
from matterloop.oracles.references.prototypes import prototype


@dataclass(frozen=True)
class ElementalReference:
    """The structure chosen as the reference of ``element``: a dataset entry or a prototype."""

    element: str
    material_id: str
    structure: Structure

    @property
    def is_prototype(self) -> bool:
        """True when no dataset entry was available and a prototype stands in."""
        return self.material_id.startswith("prototype-")


def load_splits(
    dataset: str, splits: Sequence[str], data_dir: str | os.PathLike | None = None
) -> CrystalDataset:
    """The entries of ``splits`` of ``dataset``, split after split."""
    parts = [load_dataset_split(dataset, split, data_dir, progress=False) for split in splits]
    return CrystalDataset.concatenate(parts)


def dataset_entries(
    dataset: str,
    splits: Sequence[str],
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    chemical_system: Collection[str] | None = None,
) -> dict[str, Structure]:
    """The first ``limit`` (default all) structures of ``splits``, by material id; with
    ``chemical_system`` (element symbols) only those whose elements all belong to it."""
    data = load_splits(dataset, splits, data_dir)
    indices = range(len(data))
    if chemical_system is not None:
        allowed = {Element(symbol).Z for symbol in chemical_system}
        indices = [
            i
            for i in indices
            if set(data.atomic_numbers[data.offsets[i] : data.offsets[i + 1]].tolist()) <= allowed
        ]
    chosen = list(indices)[:limit]
    return {data.material_ids[i]: data.structure(i) for i in chosen}


def elemental_references(
    elements: Iterable[str], dataset: str, data_dir: str | os.PathLike | None = None
) -> tuple[dict[str, ElementalReference], list[str]]:
    """The reference of each of ``elements``, and the elements (sorted) that have neither a
    pure-element entry with positions in any split of ``dataset`` nor a prototype."""
    data = load_splits(dataset, SPLITS, data_dir)
    formation = data.property("formation_energy_per_atom")
    best: dict[int, int] = {}  # atomic number -> index of its lowest-energy pure entry
    for index in range(len(data)):
        numbers = np.unique(data.atomic_numbers[data.offsets[index] : data.offsets[index + 1]])
        if len(numbers) == 1:
            z = int(numbers[0])
            if z not in best or formation[index] < formation[best[z]]:
                best[z] = index
    references: dict[str, ElementalReference] = {}
    missing = []
    for element in sorted(set(elements)):
        index = best.get(Element(element).Z)
        if index is not None:
            structure = data.structure(index)
            references[element] = ElementalReference(element, data.material_ids[index], structure)
        elif (structure := prototype(element)) is not None:
            references[element] = ElementalReference(element, f"prototype-{element}", structure)
        else:
            missing.append(element)
    return references, missing
