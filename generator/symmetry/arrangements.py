"""Wyckoff arrangements: the symmetry of a crystal without its positions or elements, and how to
draw them from the training distribution so that unconditional sampling starts symmetric.

An arrangement is a space group and its crystal's Wyckoff orbits: each orbit's Wyckoff letter,
its atom count in the primitive cell, and which orbits share an element (element classes
``0, 1, …`` in order of first appearance). NaCl is ``225: a1·0 b1·1``; a perovskite ABX₃ is
``221: a1·0 b1·1 c3·2``. What sampling needs from it is a
:class:`~matterloop.generator.symmetry.templates.SymmetryTemplate`: pyxtal places the orbits in a
random crystal of the group (placeholder elements, one per class), which is reduced to its
Niggli-reduced primitive cell (the cells the model was trained on) and analysed. Only the
operations, the special positions and the pattern of elements reach the sampler: the free
parameters, the lattice and the elements are sampled by the model
(:mod:`matterloop.generator.symmetry.projection`).

The shipped table (``generator/pretrained/mp20_arrangements.json.gz``) counts the arrangements
of the 11,620 MP-20 train and val crystals at symprec 0.1; drawing from it reproduces their
space-group and atom-count distributions. ``matterloop data arrangements`` rebuilds it.
"""

from __future__ import annotations

import gzip
import json
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import spglib

from matterloop.data.tensors import CrystalTensors, structure_to_tensors
from matterloop.generator.symmetry.templates import SYMPREC, SymmetryTemplate

PLACEHOLDERS = ("Na", "Cl", "K", "Br", "Rb", "I", "Cs", "F", "Li", "Ag", "Cu", "Au")
"""Elements standing for element classes while pyxtal places an arrangement's orbits (only
their radii matter, for pyxtal's distance checks)."""
PLACEMENT_TRIES = 4
"""Random crystals tried per arrangement before it is given up as unplaceable."""
TABLE_FORMAT = 1


class ArrangementError(ValueError):
    """An arrangement that cannot be read, placed or drawn."""


@dataclass(frozen=True, order=True)
class Orbit:
    """One Wyckoff orbit: ``letter`` (ITA), ``size`` atoms in the primitive cell, and the
    ``element`` class it shares with the crystal's other orbits of that class."""

    letter: str
    size: int
    element: int


@dataclass(frozen=True)
class WyckoffArrangement:
    """A space group (1-230) and the Wyckoff orbits of a crystal in it, sorted by letter."""

    space_group: int
    orbits: tuple[Orbit, ...]

    @property
    def num_atoms(self) -> int:
        """Atoms in the primitive cell."""
        return sum(orbit.size for orbit in self.orbits)

    @property
    def num_elements(self) -> int:
        return len({orbit.element for orbit in self.orbits})

    @property
    def key(self) -> str:
        """``"225:a1.0,b1.1"``: group, then letter, size and element class of each orbit."""
        return f"{self.space_group}:" + ",".join(
            f"{o.letter}{o.size}.{o.element}" for o in self.orbits
        )

    @classmethod
    def from_key(cls, key: str) -> WyckoffArrangement:
        """The arrangement of :attr:`key` ``key``.

        Raises:
            ArrangementError: a malformed key.
        """
        try:
            group, orbits = key.split(":")
            parsed = []
            for item in orbits.split(","):
                head, element = item.split(".")
                parsed.append(Orbit(head[0], int(head[1:]), int(element)))
            return cls(int(group), tuple(parsed))
        except ValueError as error:
            raise ArrangementError(f"not a Wyckoff arrangement key: {key!r}") from error

    @classmethod
    def of_crystal(cls, crystal: CrystalTensors, tolerance: float = SYMPREC) -> WyckoffArrangement:
        """The arrangement of ``crystal`` at ``tolerance`` Å (spglib).

        Raises:
            ArrangementError: spglib finds no symmetry.
        """
        numbers = crystal.atomic_numbers.numpy()
        cell = (crystal.lattice.double().numpy(), crystal.frac_coords.double().numpy(), numbers)
        dataset = spglib.get_symmetry_dataset(cell, symprec=tolerance)
        if dataset is None:
            raise ArrangementError(f"spglib found no symmetry: {spglib.get_error_message()}")
        representatives, sizes = np.unique(dataset.equivalent_atoms, return_counts=True)
        raw = sorted(
            (dataset.wyckoffs[r], int(size), int(numbers[r]))
            for r, size in zip(representatives, sizes, strict=True)
        )
        classes: dict[int, int] = {}
        orbits = tuple(Orbit(w, n, classes.setdefault(z, len(classes))) for w, n, z in raw)
        return cls(int(dataset.number), orbits)

    def template(self, seed: int = 0) -> SymmetryTemplate:
        """A template of this arrangement: its orbits placed by pyxtal in a random crystal of
        the group, reduced to the Niggli-reduced primitive cell.

        Raises:
            ArrangementError: pyxtal cannot place the orbits, or every placement it found has
                another group or atom count, in ``PLACEMENT_TRIES`` tries.
        """
        return _placed_template(self, seed)


@lru_cache(maxsize=4096)
def _placed_template(arrangement: WyckoffArrangement, seed: int) -> SymmetryTemplate:
    """:meth:`WyckoffArrangement.template`, cached: the template's positions only fix the
    special positions, the sampler draws the free parameters, so one placement serves all
    samples of an arrangement."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from pyxtal import pyxtal
    from pyxtal.symmetry import Group

    if arrangement.num_elements > len(PLACEHOLDERS):
        raise ArrangementError(f"{arrangement.key}: more element classes than placeholders")
    group = Group(arrangement.space_group)
    species: dict[str, list[str]] = {}
    for orbit in arrangement.orbits:
        position = group.get_wyckoff_position(orbit.letter)
        sites = species.setdefault(PLACEHOLDERS[orbit.element], [])
        sites.append(f"{position.multiplicity}{orbit.letter}")
    names = list(species)
    counts = [sum(int(site[:-1]) for site in species[name]) for name in names]
    for attempt in range(PLACEMENT_TRIES):
        crystal = pyxtal()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                crystal.from_random(
                    3,
                    arrangement.space_group,
                    names,
                    counts,
                    sites=[species[name] for name in names],
                    random_state=seed * PLACEMENT_TRIES + attempt,
                )
            except Exception:  # pyxtal raises bare RuntimeErrors and more on failed placements
                continue
            if not crystal.valid:
                continue
            analyzer = SpacegroupAnalyzer(crystal.to_pymatgen(), symprec=SYMPREC)
            primitive = analyzer.get_primitive_standard_structure().get_reduced_structure()
        try:
            template = SymmetryTemplate.of_crystal(structure_to_tensors(primitive))
        except ValueError:
            continue
        if (
            template.space_group == arrangement.space_group
            and template.num_atoms == arrangement.num_atoms
        ):
            return template
    raise ArrangementError(
        f"pyxtal placed no crystal of arrangement {arrangement.key} in {PLACEMENT_TRIES} tries"
    )


class ArrangementTable:
    """How often each Wyckoff arrangement occurs in a set of crystals.

    Attributes:
        arrangements: the distinct arrangements, most frequent first.
        counts: ``(A,)`` long, crystals of each.
    """

    def __init__(self, counts: Counter[WyckoffArrangement], source: str = "") -> None:
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0].key))
        self.arrangements = [arrangement for arrangement, _ in ranked]
        self.counts = np.array([count for _, count in ranked], dtype=np.int64)
        self.source = source
        self._unplaceable: set[WyckoffArrangement] = set()

    def __len__(self) -> int:
        return len(self.arrangements)

    @classmethod
    def from_crystals(
        cls, crystals: Iterable[CrystalTensors], source: str = ""
    ) -> ArrangementTable:
        """The table of ``crystals``; crystals spglib cannot analyse are left out."""
        counts: Counter[WyckoffArrangement] = Counter()
        for crystal in crystals:
            try:
                counts[WyckoffArrangement.of_crystal(crystal)] += 1
            except ArrangementError:
                continue
        return cls(counts, source)

    def space_group_shares(self) -> dict[int, float]:
        """Space group → share of the crystals in it."""
        shares: Counter[int] = Counter()
        for arrangement, count in zip(self.arrangements, self.counts, strict=True):
            shares[arrangement.space_group] += int(count)
        total = int(self.counts.sum())
        return {group: count / total for group, count in shares.most_common()}

    def draw(
        self,
        size: int,
        rng: np.random.Generator,
        num_atoms: int | None = None,
        max_elements: int | None = None,
    ) -> list[WyckoffArrangement]:
        """``size`` arrangements drawn in proportion to their counts, of ``num_atoms`` atoms and
        at most ``max_elements`` element classes if given.

        Raises:
            ArrangementError: no arrangement meets the restrictions.
        """
        weights = self.counts.astype(np.float64)
        for index, arrangement in enumerate(self.arrangements):
            if (
                (num_atoms is not None and arrangement.num_atoms != num_atoms)
                or (max_elements is not None and arrangement.num_elements > max_elements)
                or arrangement in self._unplaceable
            ):
                weights[index] = 0.0
        if weights.sum() == 0:
            raise ArrangementError(
                f"no Wyckoff arrangement in the table ({self.source or 'unnamed'}) has"
                + (f" {num_atoms} atoms" if num_atoms is not None else "")
                + (f" at most {max_elements} elements" if max_elements is not None else "")
            )
        chosen = rng.choice(len(weights), size=size, p=weights / weights.sum())
        return [self.arrangements[int(i)] for i in chosen]

    def draw_templates(
        self,
        size: int,
        rng: np.random.Generator,
        num_atoms: int | None = None,
        max_elements: int | None = None,
    ) -> list[SymmetryTemplate]:
        """Templates of ``size`` arrangements drawn as by :meth:`draw`; an arrangement pyxtal
        cannot place is left out of later draws and replaced."""
        templates: list[SymmetryTemplate] = []
        while len(templates) < size:
            for arrangement in self.draw(size - len(templates), rng, num_atoms, max_elements):
                try:
                    templates.append(arrangement.template())
                except ArrangementError:
                    self._unplaceable.add(arrangement)
        return templates

    def save(self, path: str | Path) -> None:
        """Write the table as gzipped JSON (keys and counts)."""
        payload = {
            "format": TABLE_FORMAT,
            "source": self.source,
            "tolerance": SYMPREC,
            "counts": {a.key: int(c) for a, c in zip(self.arrangements, self.counts, strict=True)},
        }
        with gzip.open(path, "wt") as handle:
            json.dump(payload, handle, indent=0)

    @classmethod
    def load(cls, path: str | Path) -> ArrangementTable:
        """A table written by :meth:`save`.

        Raises:
            ArrangementError: not such a file.
        """
        try:
            with gzip.open(path, "rt") as handle:
                payload = json.load(handle)
            counts = payload["counts"]
            source = payload.get("source", "")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ArrangementError(f"{path}: not a Wyckoff arrangement table ({error})") from error
        return cls(
            Counter({WyckoffArrangement.from_key(k): int(c) for k, c in counts.items()}), source
        )
