"""Choosing oracles by name: built-ins, an installed plug-in, and import paths."""

from __future__ import annotations

import pytest
import yaml
from pymatgen.core import Lattice, Structure

from matterloop.oracles import CHGNetOracle, GPAWOracle, oracle_from_spec
from matterloop.oracles.registry import build_oracle, registered_oracles

CONFIG = """
oracle:
  name: example-emt
  settings:
    relax: {fmax: 0.02, relax_cell: true}
    robustness: {isolation: inline}
"""


def test_plugin_is_found_through_its_entry_point(installed_plugin: None) -> None:
    assert registered_oracles()["example-emt"] == "matterloop_example_oracle:EMTOracle"

    oracle = oracle_from_spec(yaml.safe_load(CONFIG)["oracle"])
    copper = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.7), ["Cu"], [[0, 0, 0]])
    (result,) = oracle.evaluate([copper])

    assert result.ok and result.converged, result.failure
    assert result.provenance.oracle == "example-emt"
    assert result.structure.lattice.a == pytest.approx(3.59, abs=0.02)  # EMT's Cu
    assert result.magmoms is None


def test_builtins_and_import_paths() -> None:
    chgnet = build_oracle("chgnet", {"relax": {"fmax": 0.1}})
    assert isinstance(chgnet, CHGNetOracle) and chgnet.config.relax.fmax == 0.1
    assert isinstance(build_oracle("matterloop.oracles.dft:GPAWOracle", {"ecut": 350}), GPAWOracle)
    generic = oracle_from_spec(
        {"name": "ase", "settings": {"calculator": "ase.calculators.emt:EMT"}}
    )
    assert generic.config.calculator == "ase.calculators.emt:EMT"


def test_bad_names_and_settings_are_clear() -> None:
    with pytest.raises(ValueError, match=r"unknown oracle 'nope'; known: .*chgnet"):
        build_oracle("nope")
    with pytest.raises(ValueError, match=r"cannot import module 'no_such_pkg\.mod'"):
        build_oracle("no_such_pkg.mod:Oracle")
    with pytest.raises(ValueError, match="fmax"):
        build_oracle("chgnet", {"relax": {"fmax": -1}})
    with pytest.raises(ValueError, match="ecutt"):
        build_oracle("gpaw", {"ecutt": 300})
    with pytest.raises(TypeError, match="does not meet the Oracle protocol"):
        build_oracle("pathlib:Path")
