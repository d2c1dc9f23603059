"""Plane-wave PAW DFT with GPAW as an oracle.

Spin-polarized PBE (by default) in a plane-wave basis with Fermi–Dirac smearing; k-points from a
density in points per Å⁻¹ of reciprocal length, so cells of any size get comparable sampling.
With ``band_gap: true`` it also returns the Kohn–Sham band gap (eV) of the final geometry: the
eigenvalues of a non-self-consistent calculation on the converged density, on a denser Γ-centred
k-mesh (``band_gap_kpt_density``), both spin channels where spin-polarized, 0 for a metal.
Atoms start ferromagnetic with the Materials Project's moments (``initial_magmom: mp``: 5 µB on
Cr, Fe, Mn, Mo, Ni, V, W, 0.6 µB on the rest) or ``initial_magmom`` µB each, unless the input
structure carries a ``magmom`` site property. ``hubbard_u: mp`` adds Dudarev's U on the d states
of Co, Cr, Fe, Mn, Mo, Ni, V and W with the Materials Project's values where the structure's most
electronegative element is O or F (MP's rule and numbers, read from pymatgen's ``MPRelaxSet``);
the values used for a structure are in its result's provenance (``hubbard_u_applied``).
Optionally relaxed through the shared ASE path (:mod:`matterloop.oracles.relax`); by default
a single point, since DFT relaxations are expensive.

GPAW's total energies are relative to the isolated (spin-paired) atoms of its PAW datasets, not
absolute: compare them only with GPAW energies of the same settings (see
:mod:`matterloop.oracles.hull`). Installation: ``install/gpaw.sh`` (GPAW is built from source
against libxc, OpenBLAS and FFTW; the PAW datasets come from the ``gpaw-data`` wheel).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from importlib.metadata import version as package_version
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import Field, field_validator
from pymatgen.core import Element, Structure

from matterloop.core.result import FailureKind, OracleFailure, OracleResult
from matterloop.oracles.base import CalculatorOracle, CalculatorOracleConfig
from matterloop.oracles.config import RelaxConfig
from matterloop.oracles.properties import OracleProperty


class GPAWConfig(CalculatorOracleConfig):
    """GPAW settings. Energies in eV, lengths in Å."""

    relax: RelaxConfig | None = None
    xc: str = "PBE"
    ecut: float = Field(400.0, gt=0, description="plane-wave cutoff, eV")
    kpt_density: float = Field(
        3.5, gt=0, description="k-points per Å⁻¹ of reciprocal-lattice length (Γ-centred)"
    )
    spin_polarized: bool = True
    initial_magmom: float | Literal["mp"] = Field(
        "mp",
        description="starting moment of every atom, µB; 'mp': the Materials Project's (5 on Cr, "
        "Fe, Mn, Mo, Ni, V, W, 0.6 on the rest), ferromagnetic",
    )
    smearing_width: float = Field(0.1, gt=0, description="Fermi–Dirac width, eV")
    scf_max_iterations: int = Field(100, ge=1)
    scf_energy_tolerance: float = Field(
        5e-4, gt=0, description="SCF energy change per valence electron, eV"
    )
    hubbard_u: Literal["mp"] | dict[str, float] | None = Field(
        None,
        description="'mp': the Materials Project's U (eV) on the d states of Co, Cr, Fe, Mn, Mo, "
        "Ni, V, W in oxides and fluorides; a mapping element -> U (eV, d states) applies those "
        "wherever the element occurs; null: plain PBE",
    )
    band_gap: bool = Field(False, description="also return band_gap (eV) of the final geometry")
    band_gap_kpt_density: float = Field(
        5.0, gt=0, description="k-points per Å⁻¹ of the non-self-consistent band-gap mesh"
    )

    @field_validator("hubbard_u")
    @classmethod
    def known_elements(cls, value: str | dict[str, float] | None) -> str | dict[str, float] | None:
        if isinstance(value, dict):
            for symbol, u in value.items():
                if not Element.is_valid_symbol(symbol):
                    raise ValueError(f"hubbard_u: unknown element {symbol!r}")
                if u < 0:
                    raise ValueError(f"hubbard_u: U of {symbol} is {u} eV; it must be >= 0")
        return value


MP_DEFAULT_MAGMOM = 0.6
"""µB: the starting moment of an element the Materials Project's table does not name."""


@functools.cache
def mp_hubbard_u() -> dict[str, dict[str, float]]:
    """The Materials Project's U values (eV) by anion (O, F), then metal: pymatgen's
    ``MPRelaxSet``."""
    from pymatgen.io.vasp.sets import MPRelaxSet

    return MPRelaxSet.CONFIG["INCAR"]["LDAUU"]


def initial_magmoms(symbols: Sequence[str], setting: float | str) -> list[float]:
    """Starting moments (µB) of atoms ``symbols``: ``setting`` on every atom, or with ``"mp"``
    the Materials Project's by element (pymatgen's ``MPRelaxSet``; 0.6 where it has none)."""
    if setting != "mp":
        return [float(setting)] * len(symbols)
    from pymatgen.io.vasp.sets import MPRelaxSet

    table = MPRelaxSet.CONFIG["INCAR"]["MAGMOM"]
    return [float(table.get(symbol, MP_DEFAULT_MAGMOM)) for symbol in symbols]


def hubbard_u_for(
    symbols: Collection[str], setting: str | dict[str, float] | None
) -> dict[str, float]:
    """The U (eV, on d states) of each element of a structure with elements ``symbols``: with
    ``"mp"``, MP's values when the most electronegative element is O or F (as MP decides
    whether a structure gets +U), else none; with a mapping, its values for the elements
    present."""
    present = set(symbols)
    if setting is None:
        return {}
    if isinstance(setting, dict):
        return {symbol: u for symbol, u in setting.items() if symbol in present and u > 0}
    anion = max(present, key=lambda symbol: Element(symbol).X)
    table = mp_hubbard_u().get(anion, {})
    return {symbol: float(table[symbol]) for symbol in sorted(present) if symbol in table}


BAND_GAP = OracleProperty(
    "band_gap", "eV", "Kohn–Sham gap, non-self-consistent, dense k-mesh", needs_relaxed=False
)
"""The gap of the geometry calculated: GPAW computes single points by default (relax: null)."""
EMPTY_BANDS = 4
"""Converged bands above the occupied ones in the band-gap calculation (twice as many computed)."""


@functools.cache
def elements_with_setups(xc: str) -> frozenset[str]:
    """Elements that have a PAW dataset for ``xc`` on the GPAW setup path."""
    from gpaw.setup_data import search_for_file

    found = set()
    for z in range(1, 104):
        symbol = Element.from_Z(z).symbol
        try:
            search_for_file(f"{symbol}.{xc}")
        except (FileNotFoundError, RuntimeError):
            continue
        found.add(symbol)
    return frozenset(found)


class GPAWOracle(CalculatorOracle[GPAWConfig]):
    """GPAW plane-wave DFT: energy (eV, relative to GPAW's atomic references), forces, stress,
    site and total magnetic moments (µB)."""

    name: ClassVar[str] = "gpaw"
    config_type = GPAWConfig
    reuse_calculator: ClassVar[bool] = False
    has_scf: ClassVar[bool] = True
    without_symmetry: bool = False
    """True while a structure is recomputed without symmetry (see :meth:`label`)."""

    def make_calculator(self) -> Calculator:
        return self.gpaw_calculator({})

    def structure_settings(self, atoms: Atoms) -> dict[str, Any]:
        symbols = atoms.get_chemical_symbols()
        settings: dict[str, Any] = {
            "hubbard_u_applied": hubbard_u_for(symbols, self.config.hubbard_u)
        }
        if self.without_symmetry:
            settings["symmetry"] = "off"
        return settings

    def calculator_for(self, atoms: Atoms) -> Calculator:
        return self.gpaw_calculator(self.structure_settings(atoms)["hubbard_u_applied"])

    def label(self, structure: Structure) -> OracleResult:
        """As :meth:`CalculatorOracle.label`; where GPAW's symmetry analysis fails on a nearly
        symmetric cell (its ``SymmetryAnalysisBug``), once more without symmetry (the full
        k-mesh: slower, the same physics), which the result's provenance records."""
        result = super().label(structure)
        if result.ok or not result.failure.reason.startswith("SymmetryAnalysisBug"):
            return result
        self.without_symmetry = True
        try:
            return super().label(structure)
        finally:
            self.without_symmetry = False

    def gpaw_calculator(self, hubbard_u: dict[str, float]) -> Calculator:
        """GPAW with these settings and Dudarev's U (eV) on the d states of ``hubbard_u``'s
        elements."""
        from gpaw import GPAW, PW

        config = self.config
        return GPAW(
            symmetry="off" if self.without_symmetry else {},
            setups={symbol: f":d,{u}" for symbol, u in hubbard_u.items()},
            mode=PW(config.ecut),
            xc=config.xc,
            kpts={"density": config.kpt_density, "gamma": True},
            spinpol=config.spin_polarized,
            occupations={"name": "fermi-dirac", "width": config.smearing_width},
            maxiter=config.scf_max_iterations,
            convergence={"energy": config.scf_energy_tolerance},
            txt=None,
        )

    def version(self) -> str:
        return f"gpaw {package_version('gpaw')}, gpaw-data {package_version('gpaw-data')}"

    def supported_elements(self) -> Collection[str]:
        return elements_with_setups(self.config.xc)

    @property
    def properties(self) -> tuple[OracleProperty, ...]:  # type: ignore[override]
        return (BAND_GAP,) if self.config.band_gap else ()

    def compute_properties(self, atoms: Atoms) -> dict[str, float]:
        """The band gap (eV) from the converged density of ``atoms.calc``: occupied bands and
        ``EMPTY_BANDS`` more, on the irreducible points of the band-gap mesh."""
        if not self.config.band_gap:
            return {}
        from ase.dft.bandgap import bandgap

        scf = atoms.calc
        occupied = int(np.ceil(scf.get_number_of_electrons() / 2))
        bands = scf.fixed_density(
            kpts={"density": self.config.band_gap_kpt_density, "gamma": True},
            nbands=occupied + 2 * EMPTY_BANDS,
            convergence={"bands": occupied + EMPTY_BANDS},
            txt=None,
        )
        gap, _, _ = bandgap(bands, output=None)
        return {BAND_GAP.name: float(gap)}

    def prepare(self, atoms: Atoms) -> Atoms:
        if self.config.spin_polarized and not atoms.get_initial_magnetic_moments().any():
            atoms.set_initial_magnetic_moments(
                initial_magmoms(atoms.get_chemical_symbols(), self.config.initial_magmom)
            )
        return atoms

    def translate_error(self, error: Exception) -> OracleFailure:
        from gpaw import KohnShamConvergenceError

        if isinstance(error, KohnShamConvergenceError):
            return OracleFailure(
                FailureKind.SCF_NOT_CONVERGED,
                f"SCF did not converge within {self.config.scf_max_iterations} iterations",
            )
        return super().translate_error(error)
