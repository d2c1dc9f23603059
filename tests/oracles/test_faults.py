"""Every failure mode ends in a failed result with a precise reason, and the batch goes on.

Broken calculators are the test doubles of :mod:`tests.oracles.misbehaving`, run through the
generic ``ase`` oracle in its worker process; input checks use ASE's EMT potential.
"""

from __future__ import annotations

import time

import pytest
from pymatgen.core import Lattice, Structure

from matterloop.oracles import AseOracle, FailureKind, OracleResult

DOUBLES = "tests.oracles.misbehaving"


def misbehaving_oracle(calculator: str, **robustness) -> AseOracle:
    return AseOracle.from_settings(
        {
            "calculator": f"{DOUBLES}:{calculator}",
            "relax": {"fmax": 0.05, "max_steps": 200, "relax_cell": False},
            "robustness": {"timeout_s": 20, **robustness},
        }
    )


def emt_oracle() -> AseOracle:
    """ASE's EMT (Al, Cu, Ag, Au, Ni, Pd, Pt, H, C, N, O), inline: for the input checks."""
    return AseOracle.from_settings(
        {
            "calculator": "ase.calculators.emt:EMT",
            "elements": ["Al", "Cu", "Ag", "Au", "Ni", "Pd", "Pt", "H", "C", "N", "O"],
            "relax": None,
            "robustness": {"isolation": "inline"},
        }
    )


@pytest.fixture
def fcc_cu() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])


def assert_failed(result: OracleResult, kind: FailureKind, *words: str) -> None:
    assert not result.ok and not result.converged
    assert result.failure.kind is kind, result.failure
    for word in words:
        assert word in result.failure.reason, result.failure.reason


def test_hanging_calculation_times_out_and_batch_continues(fcc_cu: Structure) -> None:
    with misbehaving_oracle("HangingCalculator", timeout_s=3, max_retries=0) as oracle:
        start = time.perf_counter()
        results = oracle.evaluate([fcc_cu, fcc_cu])
        elapsed = time.perf_counter() - start
    assert [r.failure.kind for r in results] == [FailureKind.TIMEOUT] * 2
    assert "3 s" in results[0].failure.reason
    assert elapsed < 40


def test_calculator_exception_is_a_result(fcc_cu: Structure) -> None:
    with misbehaving_oracle("RaisingCalculator", max_retries=0) as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert_failed(result, FailureKind.CALCULATOR_ERROR, "RuntimeError", "division by zero")


def test_nan_energy_is_an_explosion(fcc_cu: Structure) -> None:
    with misbehaving_oracle("NaNCalculator") as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert_failed(result, FailureKind.EXPLODED, "non-finite energy")
    assert result.attempts == 1


def test_collapsing_relaxation_stops_with_the_last_geometry(fcc_cu: Structure) -> None:
    with misbehaving_oracle("CollapsingCalculator") as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert_failed(result, FailureKind.EXPLODED, "collapsed", "relaxation step")
    assert result.structure is not None
    assert result.structure.distance_matrix[0, 1:].min() < 0.5


def test_crashing_worker_is_retried_then_reported(fcc_cu: Structure) -> None:
    with misbehaving_oracle("CrashingCalculator", max_retries=1) as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert_failed(result, FailureKind.WORKER_CRASHED, "exit code 3")
    assert result.attempts == 2


def test_transient_fault_succeeds_on_retry(fcc_cu: Structure) -> None:
    with misbehaving_oracle("FlakyCalculator", max_retries=2) as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert result.ok and result.attempts == 2
    assert result.energy == 0.0


def test_scf_or_other_failures_are_not_retried_unless_configured(fcc_cu: Structure) -> None:
    with misbehaving_oracle("RaisingCalculator", max_retries=3, retry_on=[]) as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    assert result.attempts == 1


@pytest.mark.parametrize(
    ("structure", "kind", "words"),
    [
        (Structure(Lattice.cubic(3.0), [], []), FailureKind.INVALID_STRUCTURE, ["no atoms"]),
        (
            Structure(Lattice.cubic(3.0), ["Cu", "Cu"], [[0, 0, 0], [0.1, 0, 0]]),
            FailureKind.INVALID_STRUCTURE,
            ["0.300 Å apart", "closer than 0.5 Å"],
        ),
        (
            Structure(Lattice.cubic(0.3), ["Cu"], [[0, 0, 0]]),
            FailureKind.INVALID_STRUCTURE,
            ["cell volume"],
        ),
        (
            Structure(Lattice.cubic(3.0), [{"Cu": 0.5, "Au": 0.5}], [[0, 0, 0]]),
            FailureKind.INVALID_STRUCTURE,
            ["disordered"],
        ),
        (
            Structure(Lattice.cubic(3.0), ["Cu", "U"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
            FailureKind.UNSUPPORTED_ELEMENT,
            ["ase does not cover element(s) U"],
        ),
    ],
    ids=["empty", "overlapping", "tiny-cell", "disordered", "unsupported-element"],
)
def test_invalid_inputs_never_reach_the_calculator(
    structure: Structure, kind: FailureKind, words: list[str]
) -> None:
    (result,) = emt_oracle().evaluate([structure])
    assert_failed(result, kind, *words)
    assert result.structure is None and result.energy is None


def test_failures_and_successes_keep_batch_order(fcc_cu: Structure) -> None:
    empty = Structure(Lattice.cubic(3.0), [], [])
    results = emt_oracle().evaluate([fcc_cu, empty, fcc_cu])
    assert [r.ok for r in results] == [True, False, True]
    assert results[0].energy == pytest.approx(results[2].energy)


def test_failed_result_round_trips_through_json(fcc_cu: Structure) -> None:
    with misbehaving_oracle("CollapsingCalculator") as oracle:
        (result,) = oracle.evaluate([fcc_cu])
    again = OracleResult.from_json(result.to_json())
    assert again.failure == result.failure
    assert again.structure == result.structure
    assert again.provenance == result.provenance
