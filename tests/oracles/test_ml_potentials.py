"""CHGNet and SevenNet oracles with their shipped pretrained models."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from matterloop.oracles import CHGNetOracle, FailureKind, OracleResult, SevenNetOracle


def rmsd_angstrom(a: Structure, b: Structure) -> float:
    """RMS displacement (Å) between two matching structures (MatterGen's matcher tolerances)."""
    matcher = StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5, primitive_cell=False)
    normalized = matcher.get_rms_dist(a, b)
    assert normalized is not None, "structures do not match"
    return normalized[0] * (a.volume / len(a)) ** (1 / 3)


def test_rattled_structure_relaxes_back(
    chgnet_oracle: CHGNetOracle, rocksalt_nacl: Structure
) -> None:
    rattled = rocksalt_nacl.copy()
    rng = np.random.default_rng(0)
    for i in range(len(rattled)):
        rattled.translate_sites([i], rng.normal(0, 0.1, 3), frac_coords=False)
    assert rmsd_angstrom(rattled, rocksalt_nacl) > 0.05

    (result,) = chgnet_oracle.evaluate([rattled])

    assert result.ok and result.converged, result.failure
    assert rmsd_angstrom(result.structure, rocksalt_nacl) < 0.1
    assert np.abs(result.forces).max() <= 0.05 + 1e-6
    assert result.energy_per_atom == pytest.approx(result.energy / 8)
    assert result.relaxation_steps > 0 and result.wall_time_s > 0
    assert result.scf_converged is None
    assert result.provenance.oracle == "chgnet" and "0.3.0" in result.provenance.version
    assert result.provenance.settings["relax"]["fmax"] == 0.05


def test_iron_is_magnetic_and_salt_is_not(
    chgnet_oracle: CHGNetOracle, bcc_fe: Structure, rocksalt_nacl: Structure
) -> None:
    fe, nacl = chgnet_oracle.evaluate([bcc_fe, rocksalt_nacl])
    assert fe.ok and nacl.ok
    assert 1.8 < fe.magmoms[0] < 2.6
    assert fe.magnetic_density == pytest.approx(fe.total_magnetization / fe.structure.volume)
    assert nacl.magnetic_density < 0.01


def test_element_outside_the_model_is_refused(chgnet_oracle: CHGNetOracle) -> None:
    californium = Structure(Lattice.cubic(3.5), ["Cf"], [[0, 0, 0]])
    (result,) = chgnet_oracle.evaluate([californium])
    assert result.failure.kind is FailureKind.UNSUPPORTED_ELEMENT
    assert "chgnet does not cover element(s) Cf" in result.failure.reason


def test_result_round_trips_through_json(chgnet_oracle: CHGNetOracle, bcc_fe: Structure) -> None:
    (result,) = chgnet_oracle.evaluate([bcc_fe])
    again = OracleResult.from_json(result.to_json())
    assert again == result


def test_oracle_pickles_without_its_worker(chgnet_oracle: CHGNetOracle, bcc_fe: Structure) -> None:
    """Oracles travel to other processes (e.g. Ray tasks) as their settings only."""
    chgnet_oracle.evaluate([bcc_fe])
    copy = pickle.loads(pickle.dumps(chgnet_oracle))
    assert copy.config == chgnet_oracle.config
    assert copy._worker is None and copy._calculator is None


def test_sevennet_shares_the_path_but_has_no_moments(bcc_fe: Structure) -> None:
    """SevenNet-0 relaxes bcc Fe near CHGNet's lattice; its energy lacks MP2020 corrections."""
    settings = {"threads": 1, "relax": {"relax_cell": True}, "robustness": {"isolation": "inline"}}
    (result,) = SevenNetOracle.from_settings(settings).evaluate([bcc_fe])
    assert result.ok and result.converged, result.failure
    assert result.magmoms is None and result.magnetic_density is None
    assert result.provenance.oracle == "sevennet"
    assert result.structure.volume == pytest.approx(11.6, rel=0.05)
    assert -9.0 < result.energy_per_atom < -7.5


def test_bulk_modulus_of_silicon_and_diamond(diamond_si: Structure) -> None:
    """EOS fits around the relaxed volume: PBE gives 88 GPa for Si and 432 GPa for diamond
    (experiment 98 and 443); CHGNet is known to be somewhat soft."""
    diamond = Structure(
        diamond_si.lattice.matrix * 3.567 / 5.40, ["C", "C"], diamond_si.frac_coords
    )
    settings = {"threads": 1, "bulk_modulus": True, "robustness": {"isolation": "inline"}}
    oracle = CHGNetOracle.from_settings(settings)
    assert [p.name for p in oracle.properties] == ["bulk_modulus"]
    assert [p.unit for p in oracle.properties] == ["GPa"]
    si, c = oracle.evaluate([diamond_si, diamond])
    assert si.ok and c.ok, (si.failure, c.failure)
    assert si.properties["bulk_modulus"] == pytest.approx(88, rel=0.2)
    assert c.properties["bulk_modulus"] == pytest.approx(432, rel=0.1)
    assert si.structure.volume == pytest.approx(
        2 * 20.4, rel=0.03
    )  # the relaxed cell, not a strained one


def test_bulk_modulus_is_declared_only_when_asked_and_needs_a_relaxation() -> None:
    assert CHGNetOracle.properties_for({}) == ()
    assert [p.name for p in SevenNetOracle.properties_for({"bulk_modulus": True})] == [
        "bulk_modulus"
    ]
    with pytest.raises(ValueError, match="bulk_modulus needs a relaxed structure"):
        CHGNetOracle.from_settings({"bulk_modulus": True, "relax": None})
