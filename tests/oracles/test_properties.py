"""Properties an oracle declares: carried by results, checked, and refused when wrong."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import pytest
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.core.result import Provenance
from matterloop.oracles import (
    CalculatorOracle,
    CalculatorOracleConfig,
    OracleFailure,
    OracleProperty,
    OracleResult,
)
from matterloop.oracles.elastic import bulk_modulus
from matterloop.oracles.properties import declared_properties, evaluate_checked

GAP = OracleProperty("band_gap", "eV", "a made-up gap", needs_relaxed=False)
CU = Structure.from_spacegroup("Fm-3m", Lattice.cubic(3.61), ["Cu"], [[0, 0, 0]])


class GapEMT(EMT):
    """EMT that also reports a 'band_gap' result of the value it was built with."""

    def __init__(self, gap: object) -> None:
        super().__init__()
        self.gap = gap

    def calculate(self, *args, **kwargs) -> None:
        super().calculate(*args, **kwargs)
        if self.gap is not None:
            self.results["band_gap"] = self.gap


class GapConfig(CalculatorOracleConfig):
    gap: float | str | None = 1.5


class GapOracle(CalculatorOracle[GapConfig]):
    name: ClassVar[str] = "gap-emt"
    config_type = GapConfig
    properties: ClassVar[tuple[OracleProperty, ...]] = (GAP,)

    def make_calculator(self) -> Calculator:
        return GapEMT(self.config.gap)

    def version(self) -> str:
        return "test"


def label(gap: object) -> OracleResult:
    settings = {"gap": gap, "relax": None, "robustness": {"isolation": "inline"}}
    (result,) = GapOracle.from_settings(settings).evaluate([CU])
    return result


def test_a_declared_property_is_read_from_the_calculator_and_survives_a_round_trip() -> None:
    result = label(1.5)
    assert result.ok and result.properties == {"band_gap": 1.5}
    assert OracleResult.from_json(result.to_json()).properties == {"band_gap": 1.5}
    assert declared_properties(GapOracle) == (GAP,)


@pytest.mark.parametrize(
    ("gap", "reason"),
    [
        (math.nan, "property 'band_gap' is nan [eV], not a finite number"),
        (math.inf, "property 'band_gap' is inf [eV], not a finite number"),
        ("wide", "property 'band_gap' is a str ('wide'), not a number"),
        (None, "declared property 'band_gap' was not returned"),
    ],
)
def test_a_bad_property_value_is_a_failure_never_a_label(gap: object, reason: str) -> None:
    result = label(gap)
    assert not result.ok and result.properties == {}
    assert result.failure.kind.value == "invalid_property"
    assert result.failure.reason == reason


class PlainOracle:
    """A plug-in that meets the protocol without the base class, returning a property it did
    not declare."""

    name = "plain"

    def evaluate(self, structures):
        provenance = Provenance(self.name, "1")
        return [OracleResult(provenance, s, s, properties={"score": 1.0}) for s in structures]


class DeclaringOracle(PlainOracle):
    properties = (OracleProperty("score", "", "a synthesis score"),)


def test_every_oracle_is_held_to_what_it_declares() -> None:
    (result,) = evaluate_checked(PlainOracle(), [CU])
    assert result.failure.reason == "undeclared property score"
    (result,) = evaluate_checked(DeclaringOracle(), [CU])
    assert result.ok and result.properties == {"score": 1.0}


@pytest.mark.parametrize(
    ("name", "message"),
    [("band gap", "must be a Python identifier"), ("energy", "a field of every oracle result")],
)
def test_property_names_must_be_new_identifiers(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OracleProperty(name, "eV", "")


def test_bulk_modulus_of_emt_copper_and_a_compressed_cell() -> None:
    atoms = AseAtomsAdaptor.get_atoms(CU)
    atoms.calc = EMT()
    volume = atoms.get_volume()
    assert 120 < bulk_modulus(atoms) < 150  # EMT Cu: 134 GPa (experiment 140)
    assert atoms.get_volume() == volume
    atoms.set_cell(atoms.cell * 0.9, scale_atoms=True)
    with pytest.raises(OracleFailure, match="no minimum within ±6% of the volume"):
        bulk_modulus(atoms)


class VolumeOnly(Calculator):
    """Energy (eV) a function of the cell volume alone (Å³): a made-up E(V), no forces."""

    implemented_properties = ("energy", "forces", "stress")

    def __init__(self, energy_of_volume) -> None:
        super().__init__()
        self.energy_of_volume = energy_of_volume

    def calculate(self, atoms=None, properties=("energy",), system_changes=()) -> None:
        super().calculate(atoms, properties, system_changes)
        self.results = {
            "energy": self.energy_of_volume(self.atoms.get_volume()),
            "forces": np.zeros((len(self.atoms), 3)),
            "stress": np.zeros(6),
        }


@pytest.mark.parametrize(
    ("energy_of_volume", "message"),
    [
        # a relaxed cell on a hump between two lower minima 4% away (a saddle)
        (lambda v: 0.5 * math.cos(math.pi * (v - 12) / (0.04 * 12)), "not at a minimum"),
        # a minimum at the cell, but E(V) jumps about (a relaxation landing in different states)
        (lambda v: (v - 12) ** 2 + 0.02 * math.sin(900 * v), "not a smooth curve"),
    ],
)
def test_an_e_of_v_without_meaning_is_a_failure_not_a_modulus(energy_of_volume, message) -> None:
    atoms = AseAtomsAdaptor.get_atoms(CU)
    atoms.set_cell(atoms.cell * (12 / atoms.get_volume()) ** (1 / 3), scale_atoms=True)
    atoms.calc = VolumeOnly(energy_of_volume)
    with pytest.raises(OracleFailure, match=message):
        bulk_modulus(atoms)


def test_the_ase_oracle_declares_properties_in_its_settings() -> None:
    from matterloop.agent.campaign.config import CampaignConfig
    from matterloop.agent.campaign.quantities import quantity
    from matterloop.oracles import build_oracle

    settings = {
        "calculator": "tests.oracles.test_properties:GapEMT",
        "calculator_kwargs": {"gap": 1.5},
        "properties": [
            {"name": "band_gap", "unit": "eV", "description": "made up", "needs_relaxed": False}
        ],
        "relax": None,
        "robustness": {"isolation": "inline"},
    }
    (result,) = evaluate_checked(build_oracle("ase", settings), [CU])
    assert result.ok and result.properties == {"band_gap": 1.5}
    config = CampaignConfig.model_validate(
        {
            "name": "gap",
            "objectives": [{"name": "band_gap", "direction": "maximize", "reference": 0.0}],
            "oracle": {"name": "ase", "settings": settings},
        }
    )
    assert config.modelled == ["band_gap"] and quantity("band_gap").unit == "eV"
    relaxed_only = {**settings, "properties": [{"name": "band_gap", "unit": "eV"}]}
    with pytest.raises(ValueError, match="band_gap needs a relaxed structure: set relax"):
        build_oracle("ase", relaxed_only)
    undeclared = {**settings, "properties": []}
    (result,) = evaluate_checked(build_oracle("ase", undeclared), [CU])
    assert result.ok and result.properties == {}  # an undeclared calculator result is ignored
