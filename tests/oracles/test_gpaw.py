"""GPAW plane-wave DFT on one- and two-atom cells (modest cutoff and k-points: seconds each).

Needs GPAW, which ``make test`` installs (``install/gpaw.sh``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymatgen.core import Structure

from oracles import FailureKind, GPAWOracle

# PW(300 eV); 1.5 k-points per Å⁻¹ gives 6×6×6 for bcc Fe and 4×4×4 for diamond Si.
FAST = {"ecut": 300.0, "kpt_density": 1.5, "robustness": {"timeout_s": 300}}


@pytest.fixture(scope="module")
def gpaw_oracle() -> Iterator[GPAWOracle]:
    with GPAWOracle.from_settings(FAST) as oracle:
        yield oracle


def test_bcc_iron_moment(gpaw_oracle: GPAWOracle, bcc_fe: Structure) -> None:
    (result,) = gpaw_oracle.evaluate([bcc_fe])
    assert result.ok and result.converged and result.scf_converged, result.failure
    assert result.magmoms[0] == pytest.approx(2.2, abs=0.3)
    assert result.total_magnetization == pytest.approx(2.2, abs=0.3)
    assert result.magnetic_density == pytest.approx(result.total_magnetization / bcc_fe.volume)
    assert result.relaxation_converged is None and result.structure == bcc_fe


def test_energies_are_deterministic(gpaw_oracle: GPAWOracle, diamond_si: Structure) -> None:
    first, second = gpaw_oracle.evaluate([diamond_si, diamond_si])
    assert first.ok and second.ok
    assert abs(first.energy - second.energy) < 1e-4
    assert abs(first.total_magnetization) < 0.01


def test_silicon_relaxes_to_the_pbe_lattice_constant(diamond_si: Structure) -> None:
    settings = {**FAST, "relax": {"fmax": 0.01, "relax_cell": True}}
    with GPAWOracle.from_settings(settings) as oracle:
        (result,) = oracle.evaluate([diamond_si])
    assert result.ok and result.relaxation_converged, result.failure
    cubic_a = result.structure.lattice.a * 2**0.5  # primitive fcc vector = a / √2
    assert cubic_a == pytest.approx(5.47, rel=0.015)
    assert result.structure.volume > diamond_si.volume


def test_scf_that_does_not_converge_is_reported(bcc_fe: Structure) -> None:
    with GPAWOracle.from_settings({**FAST, "scf_max_iterations": 3}) as oracle:
        (result,) = oracle.evaluate([bcc_fe])
    assert result.failure.kind is FailureKind.SCF_NOT_CONVERGED
    assert "within 3 iterations" in result.failure.reason
    assert result.attempts == 1


def test_element_without_paw_dataset_is_refused(gpaw_oracle: GPAWOracle) -> None:
    from pymatgen.core import Lattice

    (result,) = gpaw_oracle.evaluate([Structure(Lattice.cubic(3.5), ["Cf"], [[0, 0, 0]])])
    assert result.failure.kind is FailureKind.UNSUPPORTED_ELEMENT
