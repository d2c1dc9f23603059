"""Energy above the convex hull against reference entries: :class:`ReferenceHull`.

The hull is pymatgen's :class:`~pymatgen.analysis.phase_diagram.PhaseDiagram`, built on demand for
the chemical system of each query from the reference entries in that system and its subsystems,
so a hull over all of MP-20 (89 elements) answers queries without one 89-dimensional hull.

Energies must be on one footing, which a hull records as its ``source`` and ``energy_kind``:

- **Oracle hulls** (``energy_kind="total"``): total energies per atom (eV/atom) of reference
  structures, elemental references included, computed with the *same* oracle and settings as the
  candidates (:meth:`ReferenceHull.from_results`; :meth:`ReferenceHull.e_above_hull_of` refuses a
  result from another oracle). No correction scheme is applied: an oracle's systematic errors
  (e.g. PBE's O₂ overbinding) then largely cancel between candidates and references. CHGNet's
  energies already contain MP2020-style corrections (it learned corrected MPtrj energies),
  SevenNet-0's and GPAW's do not; applying MP2020 to some entries of a hull and not others, or
  mixing two oracles, shifts energies by up to ~0.7 eV/atom for oxides and makes E_hull
  meaningless.
- **The MP-20 DFT hull** (``energy_kind="formation"``, :meth:`ReferenceHull.from_mp20`):
  Materials Project formation energies per atom (eV/atom, GGA/GGA+U with MP's corrections
  already applied) of all 45,229 MP-20 entries plus a zero-energy reference for every element.
  Only formation energies on the same corrected footing may be compared with it — e.g. MP DFT
  values, or formation energies from CHGNet total energies minus CHGNet elemental references
  (approximately consistent because CHGNet learned corrected energies). MP-20 holds only entries
  of at most 20 atoms per cell with E_hull < 0.08 eV/atom, so stable phases with larger cells are
  missing and E_hull against it is a lower bound of MP's (measured: Li5SbS 0.052 here and in MP;
  CaEuNbFeO6 0.010 here, 0.077 in MP).

Only the lowest energy per reduced composition is kept, since no other entry can touch the hull.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import pandas as pd
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition

from generator.data.paths import resolve_data_dir
from oracles.result import OracleResult

EnergyKind = Literal["total", "formation"]
FORMAT = "matterloop-reference-hull"


class ReferenceHull:
    """Reference energies per atom (eV/atom) by reduced formula, and E_hull against them.

    ``source`` names where the energies come from (an oracle and its version, or a database);
    ``energy_kind`` says whether they are total or formation energies.
    """

    def __init__(
        self, energies: Mapping[str, float], *, source: str, energy_kind: EnergyKind
    ) -> None:
        self.source = source
        self.energy_kind: EnergyKind = energy_kind
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

    def phase_diagram(self, elements: Iterable[str]) -> PhaseDiagram:
        """The pymatgen phase diagram of the chemical system ``elements`` (cached)."""
        system = frozenset(elements)
        missing = sorted(system - self.elements)
        if missing:
            raise ValueError(
                f"no elemental reference for {', '.join(missing)} in the hull of {self.source}"
            )
        if system not in self._diagrams:
            entries = [
                entry
                for size in range(1, len(system) + 1)
                for subsystem in itertools.combinations(sorted(system), size)
                for entry in self._by_system.get(frozenset(subsystem), ())
            ]
            self._diagrams[system] = PhaseDiagram(entries)
        return self._diagrams[system]

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        """Energy above the hull (eV/atom) of ``composition`` at ``energy_per_atom`` (eV/atom, of
        this hull's ``energy_kind``). Negative when the entry lies below the hull."""
        composition = Composition(composition)
        diagram = self.phase_diagram(el.symbol for el in composition.elements)
        entry = PDEntry(composition, energy_per_atom * composition.num_atoms)
        return float(diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)[1])

    def e_above_hull_of(self, result: OracleResult) -> float:
        """E_hull (eV/atom) of a labeled structure; the result must come from this hull's oracle."""
        if self.energy_kind != "total":
            raise ValueError(
                f"the hull of {self.source} holds {self.energy_kind} energies; oracle results "
                "give total energies"
            )
        if result_source(result) != self.source:
            raise ValueError(
                f"result from {result_source(result)} cannot be placed on the hull of "
                f"{self.source}: energies of different oracles are not comparable"
            )
        if not result.ok:
            raise ValueError(f"result has no energy: {result.failure.reason}")
        return self.e_above_hull(result.structure.composition, result.energy_per_atom)

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
        return cls(energies, source=sources.pop(), energy_kind="total")

    @classmethod
    def from_mp20(cls, data_dir: str | os.PathLike | None = None) -> ReferenceHull:
        """The DFT formation-energy hull of all MP-20 entries plus zero-energy elements.

        Reads ``mp_20/properties_all.csv.gz`` under ``data_dir`` (default: ``MATTERLOOP_DATA_DIR``,
        see :func:`generator.data.paths.resolve_data_dir`).
        """
        path = resolve_data_dir(data_dir) / "mp_20" / "properties_all.csv.gz"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found; set MATTERLOOP_DATA_DIR or pass data_dir")
        table = pd.read_csv(path, usecols=["formula", "formation_energy_per_atom"])
        lowest = table.groupby("formula")["formation_energy_per_atom"].min()
        energies = dict(zip(lowest.index, lowest.to_numpy(), strict=True))
        for formula in lowest.index:
            for element in Composition(formula).elements:
                # The reference state has zero formation energy by definition; an elemental MP-20
                # entry above it (e.g. a 20-atom Mn polymorph, +0.053 eV/atom) is just metastable.
                energies[element.symbol] = min(energies.get(element.symbol, 0.0), 0.0)
        return cls(energies, source="Materials Project (MP-20)", energy_kind="formation")

    def save(self, path: str | os.PathLike) -> None:
        """Write the hull as gzip-compressed JSON."""
        data = {
            "format": FORMAT,
            "version": 1,
            "source": self.source,
            "energy_kind": self.energy_kind,
            "energies_per_atom_ev": self.energies,
        }
        with gzip.open(Path(path), "wt", encoding="utf-8") as handle:
            json.dump(data, handle)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReferenceHull:
        """Read a hull written by :meth:`save`."""
        with gzip.open(Path(path), "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a reference-hull file")
        return cls(
            data["energies_per_atom_ev"], source=data["source"], energy_kind=data["energy_kind"]
        )


def result_source(result: OracleResult) -> str:
    """The oracle and version that produced ``result``, as a hull records its source."""
    return f"{result.provenance.oracle} ({result.provenance.version})"
