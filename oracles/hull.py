"""Energy above the convex hull against reference entries: :class:`ReferenceHull`.

The hull is pymatgen's :class:`~pymatgen.analysis.phase_diagram.PhaseDiagram`, built on demand for
the chemical system of each query from the reference entries in that system and its subsystems,
so a hull over all of MP-20 (89 elements) answers queries without one 89-dimensional hull.

Energies must be on one *footing*, which a hull records as its ``source``, ``energy_kind`` and
``footing``, and which every query is checked against:

- **Oracle hulls** (``energy_kind="total"``): total energies per atom (eV/atom) of reference
  structures, elemental references included, computed with the *same* oracle and settings as the
  candidates (:meth:`ReferenceHull.from_results`; :meth:`ReferenceHull.e_above_hull_of` refuses a
  result from another oracle). An oracle's systematic errors (e.g. PBE's O₂ overbinding) then
  largely cancel between candidates and references. The footing of an oracle's energies is in
  :data:`ENERGY_FOOTINGS`: CHGNet's already contain the MP2020 corrections (it learned corrected
  MPtrj energies); SevenNet-0's and GPAW's do not, so their hulls hold their own references only.
  Applying MP2020 to some entries of a hull and not others, or mixing two oracles, shifts energies
  by up to ~0.7 eV/atom for oxides and makes E_hull meaningless.
- **The MP-20 DFT hull** (``energy_kind="formation"``, :meth:`ReferenceHull.from_mp20`):
  Materials Project formation energies per atom (eV/atom, GGA/GGA+U with MP's corrections
  already applied) of all 45,229 MP-20 entries plus a zero-energy reference for every element.
  MP-20 holds only entries of at most 20 atoms per cell with E_hull < 0.08 eV/atom, so stable
  phases with larger cells are missing and E_hull against it is a lower bound of MP's (measured:
  Li5SbS 0.052 here and in MP; CaEuNbFeO6 0.010 here, 0.077 in MP).
- **The complete hull of an MP2020-footed oracle** (:meth:`ReferenceHull.completed_with_mp20`):
  an oracle hull computed from the MP-20 structures with positions misses every competing phase
  whose structure is not at hand (18,470 of MP-20's 37,217 compositions have positions), so a
  candidate in such a system can sit far *below* it by a phase that is only missing. The complete
  hull adds, for every MP-20 entry without positions, MP's DFT formation energy placed on the
  oracle's footing through the oracle's own elemental references::

      E_total/atom = ΔH_f(MP) + Σ_el x_el · μ_el(oracle)

  i.e. the oracle's formation energy of that entry is taken to equal MP's. This is sound only for
  an oracle that learned MP2020-corrected energies (CHGNet); for the others it is refused.
  **Error bar** (``python -m bench.oracles --footing``, 18,395 compositions with both): CHGNet's
  formation energies differ from MP's by MAE 0.037 eV/atom, mean −0.015 eV/atom (CHGNet lower),
  90th percentile 0.080; the decomposition energies of MP-20's DFT ground states (against all
  other phases) differ between the two hulls by 0.028 eV/atom on average. An E_hull measured
  against converted entries carries an error of a few 0.01 eV/atom; without them, half of
  MP-20's 11,432 ground states without positions would sit more than 0.1 eV/atom *below* the
  hull of computed structures.

Only the lowest energy per reduced composition is kept, since no other entry can touch the hull.
A campaign's own results join the hull with :meth:`ReferenceHull.e_above_hull_among`.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from matterloop.core.result import OracleResult
from matterloop.data.paths import resolve_data_dir

EnergyKind = Literal["total", "formation"]
FORMAT = "matterloop-reference-hull"
MP2020 = "MP2020-corrected GGA/GGA+U"
"""The footing of Materials Project energies and of potentials trained on corrected MPtrj."""
ENERGY_FOOTINGS = {"chgnet": MP2020}
"""Oracle name -> the footing of its energies, for the oracles on a shared footing; any other
oracle's energies stand on a footing of their own (``own: <source>``)."""
ON_HULL_TOLERANCE = 1e-8  # eV/atom


def footing_of(oracle: str, source: str) -> str:
    """The footing of the energies of ``oracle`` (its name) computed as ``source``."""
    return ENERGY_FOOTINGS.get(oracle, f"own: {source}")


class ReferenceHull:
    """Reference energies per atom (eV/atom) by reduced formula, and E_hull against them.

    ``source`` names where the energies come from (an oracle and its version, or a database);
    ``energy_kind`` says whether they are total or formation energies; ``footing`` which
    energies may be compared with them (see the module docstring). ``converted`` holds the
    reduced formulas whose energy is MP's DFT formation energy placed on this footing
    (:meth:`completed_with_mp20`), empty for a hull of computed energies only.
    """

    def __init__(
        self,
        energies: Mapping[str, float],
        *,
        source: str,
        energy_kind: EnergyKind,
        footing: str | None = None,
        converted: Iterable[str] = (),
    ) -> None:
        self.source = source
        self.energy_kind: EnergyKind = energy_kind
        self.footing = footing or (
            MP2020 if energy_kind == "formation" else footing_of(source.split(" ")[0], source)
        )
        self.converted = frozenset(converted)
        self.energies: dict[str, float] = {}
        compositions: dict[str, Composition] = {}
        for formula, energy in energies.items():
            composition = Composition(formula)
            reduced = composition.reduced_formula
            compositions[reduced] = composition
            self.energies[reduced] = min(float(energy), self.energies.get(reduced, float("inf")))
        self._by_system: dict[frozenset[str], list[PDEntry]] = {}
        for formula, energy in self.energies.items():
            composition = compositions[formula]
            system = frozenset(el.symbol for el in composition.elements)
            entry = PDEntry(composition, energy * composition.num_atoms, name=formula)
            self._by_system.setdefault(system, []).append(entry)
        self._diagrams: dict[frozenset[str], PhaseDiagram] = {}

    @property
    def elements(self) -> set[str]:
        """Elements that have an elemental reference."""
        return {next(iter(system)) for system in self._by_system if len(system) == 1}

    def elemental_energies(self) -> dict[str, float]:
        """Energy per atom (eV/atom) of each element's reference (the key of an elemental
        formula such as ``O2`` is its symbol)."""
        return {
            next(iter(system)): min(entry.energy_per_atom for entry in entries)
            for system, entries in self._by_system.items()
            if len(system) == 1
        }

    @property
    def complete(self) -> bool:
        """True when MP-20 entries without positions are on this hull (or it is MP's own)."""
        return self.energy_kind == "formation" or bool(self.converted)

    def entries(self, elements: Iterable[str]) -> list[PDEntry]:
        """The reference entries of the chemical system ``elements`` and its subsystems; a
        :class:`ValueError` names the elements without an elemental reference."""
        system = frozenset(elements)
        missing = sorted(system - self.elements)
        if missing:
            raise ValueError(
                f"no elemental reference for {', '.join(missing)} in the hull of {self.source}"
            )
        return [
            entry
            for size in range(1, len(system) + 1)
            for subsystem in itertools.combinations(sorted(system), size)
            for entry in self._by_system.get(frozenset(subsystem), ())
        ]

    def holds_phases_of(self, other: ReferenceHull, elements: Iterable[str]) -> bool:
        """Whether this hull has an energy for every phase on ``other``'s hull of the chemical
        system ``elements`` and its subsystems (e.g. every ground state of MP's hull), so that a
        candidate cannot sit low on it only because a competing phase was never computed."""
        system = frozenset(elements)
        if not system <= self.elements:
            return False
        try:
            stable = other.phase_diagram(system).stable_entries
        except ValueError:  # ``other`` knows nothing of these elements
            return False
        return all(entry.composition.reduced_formula in self.energies for entry in stable)

    def phase_diagram(self, elements: Iterable[str]) -> PhaseDiagram:
        """The pymatgen phase diagram of the chemical system ``elements`` (cached)."""
        system = frozenset(elements)
        if system not in self._diagrams:
            self._diagrams[system] = PhaseDiagram(self.entries(system))
        return self._diagrams[system]

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        """Energy above the hull (eV/atom) of ``composition`` at ``energy_per_atom`` (eV/atom, of
        this hull's ``energy_kind``). Negative when the entry lies below the hull."""
        composition = Composition(composition)
        diagram = self.phase_diagram(el.symbol for el in composition.elements)
        entry = PDEntry(composition, energy_per_atom * composition.num_atoms)
        return float(diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1])

    def check_result(self, result: OracleResult) -> None:
        """Refuse a result whose energy is not on this hull's footing, or that has none."""
        if self.energy_kind != "total":
            raise ValueError(
                f"the hull of {self.source} holds {self.energy_kind} energies; oracle results "
                "give total energies"
            )
        if result_source(result) != self.source:
            raise ValueError(
                f"result from {result_source(result)} cannot be placed on the hull of "
                f"{self.source} (footing: {self.footing}): energies of different oracles are not "
                "comparable; build a hull with that oracle (matterloop reference build)"
            )
        if not result.ok:
            raise ValueError(f"result has no energy: {result.failure.reason}")

    def e_above_hull_of(self, result: OracleResult) -> float:
        """E_hull (eV/atom) of a labeled structure; the result must come from this hull's oracle."""
        self.check_result(result)
        return self.e_above_hull(result.structure.composition, result.energy_per_atom)

    def e_above_hull_among(self, entries: Sequence[tuple[Composition | str, float]]) -> list[float]:
        """E_hull (eV/atom) of each of ``entries`` (composition, energy per atom of this hull's
        kind) against this hull *plus all the other entries*: a hull that grows with a
        campaign's results, as CAMD's stability agent keeps it.

        An entry above the grown hull gets its distance to it; an entry on it gets its distance
        to the hull without itself (≤ 0: how far below everything else it lies), so that of two
        entries of one system only the lower can sit on the hull. NaN for an entry with an
        element that has no elemental reference.
        """
        items = [(Composition(c), float(e)) for c, e in entries]
        systems = [frozenset(el.symbol for el in c.elements) for c, _ in items]
        extra = [PDEntry(c, e * c.num_atoms, name=f"entry {i}") for i, (c, e) in enumerate(items)]
        diagrams: dict[frozenset[str], PhaseDiagram | None] = {}
        values = []
        for index, ((composition, energy), system) in enumerate(zip(items, systems, strict=True)):
            if system not in diagrams:
                diagrams[system] = self._grown_diagram(system, extra, systems, skip=None)
            diagram = diagrams[system]
            if diagram is None:
                values.append(math.nan)
                continue
            entry = PDEntry(composition, energy * composition.num_atoms)
            e_hull = float(diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1])
            if e_hull <= ON_HULL_TOLERANCE:
                without = self._grown_diagram(system, extra, systems, skip=index)
                e_hull = float(without.get_decomp_and_e_above_hull(entry, allow_negative=True)[1])
            values.append(e_hull)
        return values

    def _grown_diagram(
        self,
        system: frozenset[str],
        extra: Sequence[PDEntry],
        systems: Sequence[frozenset[str]],
        skip: int | None,
    ) -> PhaseDiagram | None:
        """The diagram of ``system`` from the reference entries and the ``extra`` entries whose
        elements lie in it, but the one at ``skip``; None without elemental references."""
        try:
            entries = self.entries(system)
        except ValueError:
            return None
        grown = [e for i, e in enumerate(extra) if i != skip and systems[i] <= system]
        return PhaseDiagram([*entries, *grown])

    @classmethod
    def from_results(cls, results: Iterable[OracleResult]) -> ReferenceHull:
        """A total-energy hull from oracle results of reference structures (elements included).

        Failed results are skipped with a warning; results from different oracles are an error.
        """
        results = list(results)
        sources = {result_source(r) for r in results}
        if len(sources) != 1:
            raise ValueError(f"reference results must come from one oracle, got {sorted(sources)}")
        failed = [r for r in results if not r.ok]
        if failed:
            warnings.warn(
                f"{len(failed)} reference calculation(s) failed and are left out of the hull",
                stacklevel=2,
            )
        energies: dict[str, float] = {}
        for result in results:
            if result.ok:
                formula = result.structure.composition.reduced_formula
                energies[formula] = min(result.energy_per_atom, energies.get(formula, float("inf")))
        source = sources.pop()
        footing = footing_of(results[0].provenance.oracle, source)
        return cls(energies, source=source, energy_kind="total", footing=footing)

    @classmethod
    def from_mp20(cls, data_dir: str | os.PathLike | None = None) -> ReferenceHull:
        """The DFT formation-energy hull of all MP-20 entries plus zero-energy elements.

        Reads ``mp_20/properties_all.csv.gz`` under ``data_dir`` (default: ``MATTERLOOP_DATA_DIR``,
        see :func:`matterloop.data.paths.resolve_data_dir`).
        """
        lowest = mp20_formation_energies(data_dir)
        energies = dict(lowest)
        for formula in lowest.index:
            for element in Composition(formula).elements:
                # The reference state has zero formation energy by definition; an elemental MP-20
                # entry above it (e.g. a 20-atom Mn polymorph, +0.053 eV/atom) is just metastable.
                energies[element.symbol] = min(energies.get(element.symbol, 0.0), 0.0)
        return cls(energies, source="Materials Project (MP-20)", energy_kind="formation")

    def completed_with_mp20(self, data_dir: str | os.PathLike | None = None) -> ReferenceHull:
        """This oracle hull plus every MP-20 entry without positions, its DFT formation energy
        placed on this hull's footing through this hull's elemental references (the rule of the
        module docstring). Compounds only: the elemental references stay the oracle's own.
        Entries with an element that has no reference here are left out.

        Raises:
            ValueError: if this hull does not hold total energies on the MP2020 footing (MP's
                formation energies would then be mixed with energies of another footing).
        """
        if self.energy_kind != "total" or self.footing != MP2020:
            raise ValueError(
                f"the hull of {self.source} (footing: {self.footing}) cannot be completed with "
                f"MP's DFT formation energies, which are on the {MP2020} footing: that would mix "
                "footings. Use its own references (matterloop reference build --oracle ...) "
                "or an oracle trained on MP2020-corrected energies (chgnet)"
            )
        lowest = mp20_formation_energies(data_dir, without_positions=True)
        references = self.elemental_energies()
        energies = dict(self.energies)
        converted = set()
        for formula, formation in lowest.items():
            composition = Composition(formula)
            symbols = [el.symbol for el in composition.elements]
            if len(symbols) < 2 or not set(symbols) <= references.keys():
                continue
            total = formation + sum(
                composition.get_atomic_fraction(el) * references[el] for el in symbols
            )
            reduced = composition.reduced_formula
            if total < energies.get(reduced, float("inf")):
                energies[reduced] = total
                converted.add(reduced)
        return ReferenceHull(
            energies,
            source=self.source,
            energy_kind="total",
            footing=self.footing,
            converted=converted,
        )

    def formation_energy(self, composition: Composition | str, energy_per_atom: float) -> float:
        """Formation energy per atom (eV/atom) of a total ``energy_per_atom`` against this hull's
        elemental references."""
        composition = Composition(composition)
        references = self.elemental_energies()
        missing = sorted({el.symbol for el in composition.elements} - references.keys())
        if missing:
            raise ValueError(f"no elemental reference for {', '.join(missing)}")
        return energy_per_atom - sum(
            composition.get_atomic_fraction(el) * references[el.symbol]
            for el in composition.elements
        )

    def save(self, path: str | os.PathLike) -> None:
        """Write the hull as gzip-compressed JSON."""
        data = {
            "format": FORMAT,
            "version": 2,
            "source": self.source,
            "energy_kind": self.energy_kind,
            "footing": self.footing,
            "converted": sorted(self.converted),
            "energies_per_atom_ev": self.energies,
        }
        with gzip.open(Path(path), "wt", encoding="utf-8") as handle:
            json.dump(data, handle)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReferenceHull:
        """Read a hull written by :meth:`save` (a version-1 file has no footing: it is the
        footing of its source's oracle)."""
        with gzip.open(Path(path), "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a reference-hull file")
        return cls(
            data["energies_per_atom_ev"],
            source=data["source"],
            energy_kind=data["energy_kind"],
            footing=data.get("footing"),
            converted=data.get("converted", ()),
        )


def mp20_formation_energies(
    data_dir: str | os.PathLike | None = None,
    without_positions: bool = False,
    with_positions: bool = False,
) -> pd.Series:
    """MP's lowest DFT formation energy per atom (eV/atom) of each MP-20 formula, of all entries,
    or only of those ``without_positions`` here, or ``with_positions``, from
    ``mp_20/properties_all.csv.gz``."""
    path = resolve_data_dir(data_dir) / "mp_20" / "properties_all.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: the complete hull needs MP-20's labels; set MATTERLOOP_DATA_DIR "
            "or pass --data-dir"
        )
    table = pd.read_csv(path, usecols=["formula", "formation_energy_per_atom", "has_structure"])
    if without_positions or with_positions:
        has = table["has_structure"].astype(bool)
        table = table[has if with_positions else ~has]
    return table.groupby("formula")["formation_energy_per_atom"].min()


def result_source(result: OracleResult) -> str:
    """The oracle and version that produced ``result``, as a hull records its source."""
    return f"{result.provenance.oracle} ({result.provenance.version})"
