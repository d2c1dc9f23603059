"""An example oracle plug-in: ASE's effective-medium potential (EMT) for fcc metals, with a
property of its own, the bulk modulus.

Installing this package registers ``example-emt`` in the ``matterloop.oracles`` entry-point group,
so a campaign config can say ``oracle: {name: example-emt, settings: {...}}`` and optimise
``bulk_modulus`` like any built-in quantity.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib.metadata import version as package_version
from typing import ClassVar

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT, parameters

from matterloop.oracles import CalculatorOracle, CalculatorOracleConfig, OracleProperty
from matterloop.oracles.elastic import bulk_modulus


class EMTConfig(CalculatorOracleConfig):
    """EMT has no settings of its own; relaxation and robustness come from the base config."""


class EMTOracle(CalculatorOracle[EMTConfig]):
    """Energies (eV), forces (eV/Å) and the bulk modulus (GPa) from ASE's EMT; no magnetic
    moments."""

    name: ClassVar[str] = "example-emt"
    config_type = EMTConfig
    properties: ClassVar[tuple[OracleProperty, ...]] = (
        OracleProperty(
            "bulk_modulus", "GPa", "Birch–Murnaghan fit of E(V) within ±6% of the relaxed volume"
        ),
    )

    def make_calculator(self) -> Calculator:
        return EMT()

    def version(self) -> str:
        return f"ase {package_version('ase')} EMT"

    def supported_elements(self) -> Collection[str]:
        return set(parameters)

    def compute_properties(self, atoms: Atoms) -> dict[str, float]:
        return {"bulk_modulus": bulk_modulus(atoms)}
