"""Oracle cost and agreement: ML-potential throughput, GPAW timings, CHGNet against GPAW.

    python -m bench.oracles [--data-dir DIR] [--num 20] [--threads 2] [--magnetic 7]
    python -m bench.oracles --hull [--threads 1]
    python -m bench.oracles --footing

Run it as a module from the repository root: as a script, this file's name would hide the
``oracles`` package. Prints markdown tables:

1. **Throughput**: CHGNet and SevenNet relax (the default :class:`~matterloop.oracles.RelaxConfig`:
FIRE with
   the cell, fmax 0.05 eV/Å, at most 500 steps) the first ``--num`` structures of the MP-20 test
   split as given, in their worker process with ``--threads`` torch threads. Structures per minute
   of wall time, after a warm-up structure so that starting the worker and loading the model are
   not counted.
2. **GPAW timings**: single points of bcc Fe (1 atom) and diamond Si (2 atoms) with the settings
   of ``tests/oracles/test_gpaw.py`` (PW 300 eV, 1.5 k-points per Å⁻¹, spin-polarized PBE).
3. **CHGNet against GPAW** on small magnetic cells: bcc Fe, hcp Co and fcc Ni at experimental
   lattice constants, plus MP-20 test entries of at most 4 atoms with elements up to Kr (cheap PAW
   setups) and ``dft_mag_density`` > 0.05 µB/Å³; entries whose composition occurs twice in the set
   come first, so that energies can be compared (below). Both oracles compute single points on the
   same geometry, so each compared quantity belongs to one structure, not to two relaxations that
   end in different minima.

   - *Magnetization*: |total magnetization| per atom (µB). CHGNet's is the sum of its predicted
     site moments (ferromagnetic by construction); GPAW starts every atom at 1 µB, i.e. looks for
     the ferromagnetic solution. For MP-20 entries MP's DFT value (``dft_mag_density`` × volume /
     atoms) is shown as well.
   - *Energy*: GPAW's total energies are relative to its isolated PAW atoms; CHGNet's are absolute
     and include MP2020 corrections. Absolute energies therefore do not compare, and formation
     energies would need each oracle's elemental ground states (α-Mn: 58 atoms; O₂: a molecule in a
     box), too costly for GPAW here. Energy *differences between structures of the same
     composition* need no reference: the atomic-reference offset cancels, and so do CHGNet's
     MP2020 corrections, which for these cells depend on composition alone. So ΔE (eV/atom) is
     compared for every pair of cells with one reduced formula, from CHGNet, SevenNet (whose
     energies lack the corrections) and GPAW, with MP's value where both cells are MP-20 entries
     (a difference of MP formation energies is a difference of MP total energies).
4. **Shipped CHGNet hull** (``--hull``, alone): CHGNet single points of the MP-20 entries (all
   splits) whose DFT E_hull is 0 or above 0.05 eV/atom, placed on
   :func:`matterloop.oracles.references.shipped_hull`: how many DFT ground states (E_hull = 0)
   CHGNet puts within 0.02, 0.05 and 0.1 eV/atom of its hull, and how many entries with DFT E_hull >
   0.05 eV/atom it puts above it.
5. **Footings** (``--footing``, alone, no oracle call): CHGNet's formation energies (the shipped
   hull's energies minus its elemental references) against MP's DFT formation energies on the
   compositions that have both (MAE, mean offset), and E_hull of MP-20's DFT ground states on
   the complete CHGNet hull (:func:`matterloop.oracles.references.complete_hull`) and on the hull of
   the structures with positions only: the error bar of the complete hull's rule.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
from pymatgen.core import Composition, Lattice, Structure

from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.data.paths import SPLITS
from matterloop.oracles import CHGNetOracle, GPAWOracle, OracleResult, SevenNetOracle
from matterloop.oracles.hull import ReferenceHull, mp20_formation_energies
from matterloop.oracles.references import complete_hull, shipped_hull
from matterloop.oracles.references.selection import load_splits
from matterloop.oracles.stability import STABLE_E_HULL

GPAW_TEST_SETTINGS = {"ecut": 300.0, "kpt_density": 1.5}
"""As ``FAST`` in ``tests/oracles/test_gpaw.py``: 6×6×6 k-points for bcc Fe, 4×4×4 for Si."""
MAX_MAGNETIC_Z = 36
MIN_MAG_DENSITY = 0.05  # µB/Å³
MAX_MAGNETIC_ATOMS = 4
TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Cell:
    """A named structure, with MP's DFT labels where it is an MP-20 entry."""

    name: str
    structure: Structure
    mp_magnetization_per_atom: float | None = None
    """µB/atom."""
    mp_formation_energy: float | None = None
    """eV/atom."""


def bcc_fe() -> Structure:
    """Primitive bcc Fe, a = 2.86 Å."""
    return Structure(
        Lattice.from_parameters(*[2.86 * 3**0.5 / 2] * 3, *[109.4712] * 3), ["Fe"], [[0, 0, 0]]
    )


def diamond_si() -> Structure:
    """Primitive diamond Si, a = 5.40 Å."""
    fcc = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]]) * 5.40
    return Structure(Lattice(fcc), ["Si", "Si"], [[0, 0, 0], [0.25, 0.25, 0.25]])


def hcp_co() -> Structure:
    """hcp Co, a = 2.507 Å, c = 4.070 Å (2 atoms)."""
    lattice = Lattice.hexagonal(2.507, 4.070)
    return Structure(lattice, ["Co", "Co"], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])


def fcc_ni() -> Structure:
    """Primitive fcc Ni, a = 3.524 Å."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(3.524), ["Ni"], [[0, 0, 0]]
    ).get_primitive_structure()


def oracle_settings(threads: int, **settings: Any) -> dict[str, Any]:
    return {"threads": threads, "robustness": {"timeout_s": TIMEOUT_S}, **settings}


def throughput_table(structures: Sequence[Structure], threads: int) -> list[str]:
    """Relaxations per minute of wall time in the worker process, after a warm-up structure."""
    rows = [
        "| oracle | threads | structures | mean atoms | failed | unconverged | mean FIRE steps "
        "| structures/min |",
        "|---|---|---|---|---|---|---|---|",
    ]
    mean_atoms = np.mean([len(s) for s in structures])
    for oracle_type in (CHGNetOracle, SevenNetOracle):
        with oracle_type.from_settings(oracle_settings(threads)) as oracle:
            oracle.evaluate([bcc_fe()])  # warm-up: worker start and model loading
            start = time.perf_counter()
            results = oracle.evaluate(structures)
            seconds = time.perf_counter() - start
        labeled = [r for r in results if r.ok]
        steps = np.mean([r.relaxation_steps for r in labeled]) if labeled else float("nan")
        rows.append(
            f"| {oracle.name} | {threads} | {len(results)} | {mean_atoms:.1f} "
            f"| {len(results) - len(labeled)} | {sum(not r.converged for r in labeled)} "
            f"| {steps:.0f} | {60 * len(results) / seconds:.1f} |"
        )
    return rows


def gpaw_timing_table() -> list[str]:
    """Seconds per single point (calculator set-up and SCF; inline, no worker start)."""
    rows = ["| cell | atoms | GPAW s | \\|M\\| µB |", "|---|---|---|---|"]
    oracle = GPAWOracle.from_settings({**GPAW_TEST_SETTINGS, "robustness": {"isolation": "inline"}})
    for name, structure in (("bcc Fe", bcc_fe()), ("diamond Si", diamond_si())):
        (result,) = oracle.evaluate([structure])
        rows.append(
            f"| {name} | {len(structure)} | {result.wall_time_s:.1f} "
            f"| {abs(result.total_magnetization):.2f} |"
        )
    return rows


def magnetic_cells(test: CrystalDataset, count: int) -> list[Cell]:
    """bcc Fe, hcp Co, fcc Ni and ``count`` small magnetic entries of the MP-20 test split
    ``test`` (see the module docstring); entries that share a reduced formula with another cell
    of the set come first."""
    cells = [Cell("bcc Fe", bcc_fe()), Cell("hcp Co", hcp_co()), Cell("fcc Ni", fcc_ni())]
    density = test.property("dft_mag_density")
    formation = test.property("formation_energy_per_atom")
    candidates = []
    for i in np.flatnonzero((test.num_atoms <= MAX_MAGNETIC_ATOMS) & (density > MIN_MAG_DENSITY)):
        structure = test.structure(i)
        if max(element.Z for element in structure.composition) <= MAX_MAGNETIC_Z:
            per_atom = density[i] * structure.volume / len(structure)
            name = f"{structure.composition.reduced_formula} {test.material_ids[i]}"
            candidates.append(Cell(name, structure, per_atom, formation[i]))
    formulas = [c.structure.composition.reduced_formula for c in cells + candidates]
    shared = {formula for formula in formulas if formulas.count(formula) > 1}
    # Shared formulas first, grouped so that a pair is not split by ``count``; others in order.
    candidates.sort(key=lambda c: sort_key(c, shared))
    return cells + candidates[:count]


def sort_key(cell: Cell, shared: set[str]) -> tuple[bool, str]:
    formula = cell.structure.composition.reduced_formula
    return (formula not in shared, formula if formula in shared else "")


def optional(value: float | None, spec: str = ".3f") -> str:
    return "—" if value is None else format(value, spec)


def magnetization_per_atom(result: OracleResult) -> float | None:
    """|total magnetization| per atom, µB (``None`` for a failed result)."""
    if not result.ok:
        return None
    return abs(result.total_magnetization) / len(result.structure)


@dataclass(frozen=True)
class Labels:
    """Single-point results of one cell from each oracle of the comparison."""

    cell: Cell
    chgnet: OracleResult
    sevennet: OracleResult
    gpaw: OracleResult


def single_points(cells: Sequence[Cell], threads: int, gpaw: dict[str, Any]) -> list[Labels]:
    """CHGNet, SevenNet and GPAW (``gpaw``: its settings) single points of every cell."""
    structures = [cell.structure for cell in cells]
    ml = oracle_settings(threads, relax=None)
    with CHGNetOracle.from_settings(ml) as oracle:
        chgnet = oracle.evaluate(structures)
    with SevenNetOracle.from_settings(ml) as oracle:
        sevennet = oracle.evaluate(structures)
    with GPAWOracle.from_settings({**gpaw, "robustness": {"timeout_s": TIMEOUT_S}}) as oracle:
        dft = oracle.evaluate(structures)
    return [Labels(*row) for row in zip(cells, chgnet, sevennet, dft, strict=True)]


def magnetization_table(labels: Sequence[Labels]) -> list[str]:
    """|total magnetization| per atom (µB): CHGNet, GPAW and MP's DFT."""
    rows = [
        "| cell | atoms | \\|M\\|/atom CHGNet µB | GPAW | MP DFT | CHGNet − GPAW | GPAW s |",
        "|---|---|---|---|---|---|---|",
    ]
    differences = []
    for label in labels:
        ml, dft = magnetization_per_atom(label.chgnet), magnetization_per_atom(label.gpaw)
        difference = None if ml is None or dft is None else ml - dft
        if difference is not None:
            differences.append(abs(difference))
        failure = "" if label.gpaw.ok else f" ({label.gpaw.failure.kind.value})"
        rows.append(
            f"| {label.cell.name} | {len(label.cell.structure)} | {optional(ml)} "
            f"| {optional(dft)}{failure} | {optional(label.cell.mp_magnetization_per_atom)} "
            f"| {optional(difference, '+.3f')} | {label.gpaw.wall_time_s:.0f} |"
        )
    rows.append(
        f"| mean \\|CHGNet − GPAW\\| ({len(differences)} cells) | | | | | "
        f"{np.mean(differences):.3f} | |"
    )
    return rows


def energy_difference_table(labels: Sequence[Labels]) -> list[str]:
    """ΔE (eV/atom) between every two cells of one reduced formula, per oracle and from MP."""
    rows = [
        "| composition | ΔE = E(first) − E(second) | CHGNet eV/atom | SevenNet | GPAW | MP DFT "
        "| CHGNet − GPAW | SevenNet − GPAW |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labeled = [x for x in labels if x.chgnet.ok and x.sevennet.ok and x.gpaw.ok]
    for a, b in itertools.combinations(labeled, 2):
        formula = a.cell.structure.composition.reduced_formula
        if formula != b.cell.structure.composition.reduced_formula:
            continue
        chgnet, sevennet, dft = (
            getattr(a, oracle).energy_per_atom - getattr(b, oracle).energy_per_atom
            for oracle in ("chgnet", "sevennet", "gpaw")
        )
        mp = (
            None
            if a.cell.mp_formation_energy is None or b.cell.mp_formation_energy is None
            else a.cell.mp_formation_energy - b.cell.mp_formation_energy
        )
        rows.append(
            f"| {formula} | {a.cell.name} − {b.cell.name} | {chgnet:+.3f} | {sevennet:+.3f} "
            f"| {dft:+.3f} | {optional(mp, '+.3f')} | {chgnet - dft:+.3f} "
            f"| {sevennet - dft:+.3f} |"
        )
    return rows


def hull_table(data: CrystalDataset, threads: int) -> list[str]:
    """E_hull (eV/atom) on the shipped CHGNet hull against MP's DFT E_hull."""
    hull = shipped_hull("chgnet")
    dft = data.property("e_above_hull")
    chosen = [
        i
        for i in np.flatnonzero((dft == 0) | (dft > 0.05))
        if {el.symbol for el in data.structure(i).composition.elements} <= hull.elements
    ]
    settings = oracle_settings(threads, relax=None)
    with CHGNetOracle.from_settings(settings) as oracle:
        results = oracle.evaluate([data.structure(i) for i in chosen])
    pairs = zip(chosen, results, strict=True)
    labeled = [(dft[i], hull.e_above_hull_of(r)) for i, r in pairs if r.ok]
    ground = np.array([e for d, e in labeled if d == 0])
    metastable = np.array([e for d, e in labeled if d > 0.05])
    rows = ["| DFT entries | count | CHGNet E_hull figure | value |", "|---|---|---|---|"]
    for bound in (0.02, 0.05, STABLE_E_HULL):
        rows.append(
            f"| E_hull = 0 | {len(ground)} | within {bound} eV/atom | "
            f"{np.mean(ground <= bound):.1%} |"
        )
    rows.append(f"| E_hull = 0 | {len(ground)} | median | {np.median(ground):.3f} |")
    rows.append(f"| E_hull > 0.05 | {len(metastable)} | above 0 | {np.mean(metastable > 0):.1%} |")
    rows.append(f"| E_hull > 0.05 | {len(metastable)} | median | {np.median(metastable):.3f} |")
    rows.append(f"| failed single points | {len(chosen) - len(labeled)} | | |")
    return rows


def decomposition_energy(hull: ReferenceHull, formula: str, energy: float) -> float:
    """E_hull (eV/atom) of ``formula`` at ``energy`` against ``hull`` without that formula's own
    entry: ≤ 0 for a ground state (how far below its competing phases it lies)."""
    composition = Composition(formula)
    entries = [
        e for e in hull.entries(el.symbol for el in composition.elements) if e.name != formula
    ]
    entry = PDEntry(composition, energy * composition.num_atoms)
    return float(PhaseDiagram(entries).get_decomp_and_e_above_hull(entry, allow_negative=True)[1])


def footing_table(data_dir: str | None, sample: int = 2000) -> list[str]:
    """How MP's DFT formation energies and CHGNet's (the shipped hull's energies minus its
    elemental references) agree on the compositions with both; how E_hull of MP-20's DFT ground
    states moves between the MP DFT hull and the complete CHGNet hull (on the hull, and their
    decomposition energies against all other phases, for ``sample`` of them); and how far below
    the hull of computed structures MP's ground states without positions would sit (no oracle
    call)."""
    partial = shipped_hull("chgnet")
    complete = complete_hull("chgnet", data_dir)
    dft_hull = ReferenceHull.from_mp20(data_dir)
    measured = mp20_formation_energies(data_dir, with_positions=True)
    formation: dict[str, tuple[float, float]] = {}
    for formula, mp in measured.items():
        composition = Composition(formula)
        reduced = composition.reduced_formula
        if len(composition.elements) > 1 and reduced in partial.energies:
            chgnet = partial.formation_energy(composition, partial.energies[reduced])
            formation[reduced] = (chgnet, min(mp, formation.get(reduced, (0.0, np.inf))[1]))
    difference = np.array([c - m for c, m in formation.values()])
    ground = [f for f, (_, mp) in formation.items() if abs(dft_hull.e_above_hull(f, mp)) < 1e-6]
    on_complete = np.array([complete.e_above_hull(f, complete.energies[f]) for f in ground])
    rng = np.random.default_rng(0)
    chosen = rng.choice(ground, size=min(sample, len(ground)), replace=False)
    moved = np.array(
        [
            decomposition_energy(complete, f, complete.energies[f])
            - decomposition_energy(dft_hull, f, dft_hull.energies[f])
            for f in chosen
        ]
    )
    missing = [
        f
        for f in complete.converted
        if f not in partial.energies and abs(dft_hull.e_above_hull(f, dft_hull.energies[f])) < 1e-6
    ]
    phantom = np.array([partial.e_above_hull(f, complete.energies[f]) for f in missing])
    return [
        "| figure | value |",
        "|---|---|",
        f"| compositions with both footings | {len(difference):,} |",
        f"| formation energy MAE, CHGNet − MP (eV/atom) | {np.mean(np.abs(difference)):.3f} |",
        f"| mean offset, CHGNet − MP (eV/atom) | {np.mean(difference):+.3f} |",
        f"| 90th percentile of abs. difference (eV/atom) | "
        f"{np.percentile(np.abs(difference), 90):.3f} |",
        f"| complete hull: compositions (MP entries converted) | {len(complete.energies):,} "
        f"({len(complete.converted):,}) |",
        f"| MP-20 DFT ground states with a CHGNet energy | {len(ground):,} |",
        f"| … on the complete CHGNet hull within 0.05 / 0.1 eV/atom | "
        f"{np.mean(on_complete <= 0.05):.1%} / {np.mean(on_complete <= STABLE_E_HULL):.1%} |",
        f"| … decomposition energy, CHGNet − DFT ({len(chosen):,} drawn): mean abs. | "
        f"{np.mean(np.abs(moved)):.3f} |",
        f"| … mean (eV/atom) | {np.mean(moved):+.3f} |",
        f"| MP-20 DFT ground states without positions | {len(missing):,} |",
        f"| … E_hull on the hull of computed structures only: median | {np.median(phantom):+.3f} |",
        f"| … below −0.1 eV/atom there (phantom stability) | {np.mean(phantom < -0.1):.1%} |",
    ]


def print_table(rows: Sequence[str]) -> None:
    """Print markdown rows and a blank line, at once (tables appear as they are measured)."""
    print("\n".join(rows), end="\n\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder holding mp_20/ (default: $MATTERLOOP_DATA_DIR)")
    parser.add_argument("--num", type=int, default=20, help="MP-20 test structures to relax")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of CHGNet/SevenNet")
    parser.add_argument(
        "--magnetic", type=int, default=7, help="magnetic MP-20 entries compared with GPAW"
    )
    parser.add_argument("--gpaw-ecut", type=float, default=400.0, help="agreement cutoff, eV")
    parser.add_argument(
        "--gpaw-kpt-density", type=float, default=2.5, help="agreement k-points per Å⁻¹"
    )
    parser.add_argument("--hull", action="store_true", help="only the shipped CHGNet hull check")
    parser.add_argument(
        "--footing", action="store_true", help="only CHGNet's footing against MP's DFT"
    )
    args = parser.parse_args()

    if args.footing:
        print_table(footing_table(args.data_dir))
        return
    if args.hull:
        print_table(hull_table(load_splits("mp_20", SPLITS, args.data_dir), args.threads))
        return
    test = load_dataset_split("mp_20", "test", args.data_dir)
    structures = [test.structure(i) for i in range(min(args.num, len(test)))]
    print_table(throughput_table(structures, args.threads))
    print_table(gpaw_timing_table())
    gpaw = {"ecut": args.gpaw_ecut, "kpt_density": args.gpaw_kpt_density}
    labels = single_points(magnetic_cells(test, args.magnetic), args.threads, gpaw)
    print(
        f"ML potentials against GPAW (PW {args.gpaw_ecut:.0f} eV, {args.gpaw_kpt_density} "
        "k-points per Å⁻¹), single points on the same geometry:\n"
    )
    print_table(magnetization_table(labels))
    print_table(energy_difference_table(labels))


if __name__ == "__main__":
    main()
