"""One name per quantity: aliases, units, and the table users read."""

from __future__ import annotations

import pytest

from matterloop.agent.cli import main
from matterloop.data.quantities import (
    KNOWN_QUANTITIES,
    canonical_name,
    known_quantity,
    stored_names,
)
from matterloop.oracles.properties import OracleProperty


def test_aliases_mean_their_quantity_and_unknown_names_pass_through() -> None:
    assert canonical_name("dft_mag_density") == "magnetic_density"
    assert canonical_name("mag_density") == "magnetic_density"
    assert canonical_name("hhi") == "hhi_production"
    assert canonical_name("dft_bulk_modulus") == "bulk_modulus"
    assert canonical_name("ionic_conductivity") == "ionic_conductivity"
    assert known_quantity("dft_bulk_modulus").unit == "GPa"
    assert known_quantity("ionic_conductivity") is None
    assert stored_names("mag_density") == ("magnetic_density", "mag_density", "dft_mag_density")
    assert stored_names("ionic_conductivity") == ("ionic_conductivity",)


def test_no_name_means_two_quantities() -> None:
    names = [n for q in KNOWN_QUANTITIES.values() for n in (q.name, *q.aliases)]
    assert len(names) == len(set(names))
    assert all(q.unit for q in KNOWN_QUANTITIES.values())


def test_an_oracle_declares_a_known_quantity_by_its_name_and_unit() -> None:
    assert OracleProperty("bulk_modulus", "GPa", "EOS fit").unit == "GPa"
    with pytest.raises(ValueError, match="alias of 'bulk_modulus'"):
        OracleProperty("dft_bulk_modulus", "GPa", "EOS fit")
    with pytest.raises(ValueError, match="in eV, the one unit"):
        OracleProperty("band_gap", "meV", "gap")


def test_the_table_lists_every_name(capsys) -> None:
    assert main(["data", "quantities"]) == 0
    printed = capsys.readouterr().out
    for q in KNOWN_QUANTITIES.values():
        assert q.name in printed and all(alias in printed for alias in q.aliases)
