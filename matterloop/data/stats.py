"""Dataset statistics: atom counts, elements, atomic density and label ranges."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from pymatgen.core import Element

from matterloop.data.dataset import CrystalDataset


@dataclass
class PropertyRange:
    """Summary of one label over the crystals that have it."""

    count: int
    minimum: float
    median: float
    maximum: float


@dataclass
class DatasetStats:
    """What the generator's priors and a user's sanity check need from a dataset.

    Attributes:
        num_structures: crystals in the dataset.
        num_skipped: source rows that were not used; ``skip_reasons`` says why.
        num_atoms_histogram: atoms per cell -> number of crystals.
        element_counts: element symbol -> number of atoms of that element.
        element_structure_counts: element symbol -> number of crystals containing it.
        mean_atomic_density: mean over crystals of N / V, Å⁻³ (the lattice prior's ρ).
        property_ranges: label name -> :class:`PropertyRange`.
    """

    num_structures: int
    num_skipped: int
    skip_reasons: dict[str, int]
    num_atoms_histogram: dict[int, int]
    element_counts: dict[str, int]
    element_structure_counts: dict[str, int]
    mean_atomic_density: float
    property_ranges: dict[str, PropertyRange] = field(default_factory=dict)

    def num_atoms_probabilities(self, max_atoms: int | None = None) -> np.ndarray:
        """``(max_atoms + 1,)`` probabilities of each atom count (index = count)."""
        top = max_atoms or max(self.num_atoms_histogram)
        counts = np.zeros(top + 1)
        for n, c in self.num_atoms_histogram.items():
            if n <= top:
                counts[n] = c
        return counts / counts.sum()

    def to_dict(self) -> dict:
        return {
            "num_structures": self.num_structures,
            "num_skipped": self.num_skipped,
            "skip_reasons": self.skip_reasons,
            "num_atoms_histogram": self.num_atoms_histogram,
            "element_counts": self.element_counts,
            "element_structure_counts": self.element_structure_counts,
            "mean_atomic_density": self.mean_atomic_density,
            "property_ranges": {k: vars(v) for k, v in self.property_ranges.items()},
        }


def compute_stats(dataset: CrystalDataset) -> DatasetStats:
    """Statistics of ``dataset`` (vectorized: milliseconds for MP-20)."""
    volumes = np.abs(np.linalg.det(dataset.lattices))
    symbols = {int(z): Element.from_Z(int(z)).symbol for z in np.unique(dataset.atomic_numbers)}
    element_counts = Counter(
        {
            symbols[int(z)]: int(c)
            for z, c in zip(*np.unique(dataset.atomic_numbers, return_counts=True), strict=True)
        }
    )
    crystal_of_atom = np.repeat(np.arange(len(dataset)), dataset.num_atoms)
    pairs = np.unique(np.stack([crystal_of_atom, dataset.atomic_numbers]), axis=1)
    element_structure_counts = Counter(symbols[int(z)] for z in pairs[1])
    ranges = {}
    for name in dataset.property_names:
        values = dataset.property(name)
        values = values[np.isfinite(values)]
        if values.size:
            ranges[name] = PropertyRange(
                int(values.size), float(values.min()), float(np.median(values)), float(values.max())
            )
    atom_counts, crystal_counts = np.unique(dataset.num_atoms, return_counts=True)
    return DatasetStats(
        num_structures=len(dataset),
        num_skipped=dataset.skipped.total,
        skip_reasons=dict(dataset.skipped.counts),
        num_atoms_histogram={
            int(n): int(c) for n, c in zip(atom_counts, crystal_counts, strict=True)
        },
        element_counts=dict(element_counts.most_common()),
        element_structure_counts=dict(element_structure_counts.most_common()),
        mean_atomic_density=float(np.mean(dataset.num_atoms / volumes))
        if len(dataset)
        else float("nan"),
        property_ranges=ranges,
    )
