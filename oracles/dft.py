"""Plane-wave PAW DFT with GPAW as an oracle.

Spin-polarized PBE (by default) in a plane-wave basis with Fermi–Dirac smearing; k-points from a
density in points per Å⁻¹ of reciprocal length, so cells of any size get comparable sampling.
With ``band_gap: true`` it also returns the Kohn–Sham band gap (eV) of the final geometry: the
eigenvalues of a non-self-consistent calculation on the converged density, on a denser Γ-centred
k-mesh (``band_gap_kpt_density``), both spin channels where spin-polarized, 0 for a metal.
Every atom starts with ``initial_magmom`` (µB) unless the input structure carries a ``magmom``
site property. Optionally relaxed through the shared ASE path (:mod:`oracles.relax`); by default
a single point, since DFT relaxations are expensive.

GPAW's total energies are relative to the isolated (spin-paired) atoms of its PAW datasets, not
absolute: compare them only with GPAW energies of the same settings (see :mod:`oracles.hull`).
Installation: ``install/gpaw.sh`` (GPAW is built from source against libxc, OpenBLAS and FFTW;
the PAW datasets come from the ``gpaw-data`` wheel).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from importlib.metadata import version as package_version
from typing import ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator
from pydantic import Field
from pymatgen.core import Element

from oracles.base import CalculatorOracle, CalculatorOracleConfig
from oracles.config import RelaxConfig
from oracles.properties import OracleProperty
from oracles.result import FailureKind, OracleFailure


class GPAWConfig(CalculatorOracleConfig):
    """GPAW settings. Energies in eV, lengths in Å."""

    relax: RelaxConfig | None = None
    xc: str = "PBE"
    ecut: float = Field(400.0, gt=0, description="plane-wave cutoff, eV")
    kpt_density: float = Field(
        3.5, gt=0, description="k-points per Å⁻¹ of reciprocal-lattice length (Γ-centred)"
    )
    spin_polarized: bool = True
    initial_magmom: float = Field(1.0, description="starting moment of every atom, µB")
    smearing_width: float = Field(0.1, gt=0, description="Fermi–Dirac width, eV")
    scf_max_iterations: int = Field(100, ge=1)
    scf_energy_tolerance: float = Field(
        5e-4, gt=0, description="SCF energy change per valence electron, eV"
    )
    band_gap: bool = Field(False, description="also return band_gap (eV) of the final geometry")
    band_gap_kpt_density: float = Field(
        5.0, gt=0, description="k-points per Å⁻¹ of the non-self-consistent band-gap mesh"
    )


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

    def make_calculator(self) -> Calculator:
        from gpaw import GPAW, PW

        config = self.config
        return GPAW(
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
            atoms.set_initial_magnetic_moments([self.config.initial_magmom] * len(atoms))
        return atoms

    def translate_error(self, error: Exception) -> OracleFailure:
        from gpaw import KohnShamConvergenceError

        if isinstance(error, KohnShamConvergenceError):
            return OracleFailure(
                FailureKind.SCF_NOT_CONVERGED,
                f"SCF did not converge within {self.config.scf_max_iterations} iterations",
            )
        return super().translate_error(error)
