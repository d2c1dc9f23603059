"""An example oracle plug-in: ASE's effective-medium potential (EMT) for fcc metals.

Installing this package registers ``example-emt`` in the ``matterloop.oracles`` entry-point group,
so a campaign config can say ``oracle: {name: example-emt, settings: {...}}``.
"""

from __future__ import annotations

from collections.abc import Collection
from importlib.metadata import version as package_version
from typing import ClassVar

from ase.calculators.calculator import Calculator
from ase.calculators.emt import EMT, parameters

from oracles import CalculatorOracle, CalculatorOracleConfig


class EMTConfig(CalculatorOracleConfig):
    """EMT has no settings of its own; relaxation and robustness come from the base config."""


class EMTOracle(CalculatorOracle[EMTConfig]):
    """Energies (eV) and forces (eV/Å) from ASE's EMT; no magnetic moments."""

    name: ClassVar[str] = "example-emt"
    config_type = EMTConfig

    def make_calculator(self) -> Calculator:
        return EMT()

    def version(self) -> str:
        return f"ase {package_version('ase')} EMT"

    def supported_elements(self) -> Collection[str]:
        return set(parameters)
