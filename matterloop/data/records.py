"""Labeled structures as read from files, and the account of rows that were skipped."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from pymatgen.core import Structure


@dataclass
class CrystalRecord:
    """One labeled crystal.

    Attributes:
        structure: the crystal.
        material_id: identifier from the source (e.g. ``mp-1234``) or a generated one.
        properties: scalar labels by name (eV/atom, eV, µB/Å³, GPa, space-group number, ...);
            a missing label is ``nan``.
    """

    structure: Structure
    material_id: str
    properties: dict[str, float] = field(default_factory=dict)

    def property(self, name: str) -> float:
        """The label ``name``, ``nan`` when absent."""
        return self.properties.get(name, math.nan)


@dataclass
class SkipReport:
    """Counts of rows skipped while reading, by reason, with a few example identifiers each."""

    source: str
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    MAX_EXAMPLES = 5

    def add(self, reason: str, identifier: str) -> None:
        self.counts[reason] += 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < self.MAX_EXAMPLES:
            examples.append(identifier)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line, e.g. ``skipped 2 rows of train.csv: 1 partial occupancy (mp-1), ...``."""
        if not self.total:
            return f"skipped 0 rows of {self.source}"
        parts = [
            f"{count} {reason} ({', '.join(self.examples[reason])})"
            for reason, count in self.counts.most_common()
        ]
        return f"skipped {self.total} rows of {self.source}: " + "; ".join(parts)

    def to_dict(self) -> dict:
        return {"source": self.source, "counts": dict(self.counts), "examples": self.examples}

    @classmethod
    def from_dict(cls, data: dict) -> SkipReport:
        return cls(data["source"], Counter(data["counts"]), dict(data["examples"]))
