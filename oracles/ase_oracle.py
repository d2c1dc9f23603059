"""Any ASE calculator as an oracle (VASP, Quantum ESPRESSO, CP2K, …).

The calculator is named in the config as ``"package.module:callable"`` and built with
``calculator_kwargs``::

    oracle:
      name: ase
      settings:
        calculator: ase.calculators.espresso:Espresso
        calculator_kwargs: {pseudopotentials: {Si: Si.pbe-n-rrkjus_psl.1.0.0.UPF}, kpts: [4, 4, 4]}
        elements: [Si]
        relax: {fmax: 0.03}

Energies are whatever the calculator returns (eV); put only results of one calculator with one set
of settings on one hull. A calculator that computes more than ASE's standard properties declares
them here, each read from its results under its name::

        properties: [{name: band_gap, unit: eV, description: "PBE band gap"}]
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, ClassVar

from ase.calculators.calculator import Calculator
from pydantic import Field

from matterloop.core.config import StrictModel
from matterloop.core.imports import import_object
from matterloop.oracles.base import CalculatorOracle, CalculatorOracleConfig
from matterloop.oracles.properties import OracleProperty


class DeclaredProperty(StrictModel):
    """A property the calculator returns in its results under ``name``."""

    name: str
    unit: str = Field("", description="e.g. eV, GPa; empty for a pure number")
    description: str = ""
    needs_relaxed: bool = True

    def declaration(self) -> OracleProperty:
        return OracleProperty(self.name, self.unit, self.description, self.needs_relaxed)


class AseOracleConfig(CalculatorOracleConfig):
    """A calculator factory and what it covers."""

    calculator: str = Field(description="'package.module:callable' returning an ASE calculator")
    calculator_kwargs: dict[str, Any] = Field(default_factory=dict)
    elements: list[str] | None = Field(None, description="element symbols covered; null: any")
    fresh_calculator: bool = Field(
        True, description="build a new calculator for every structure (no state carried over)"
    )
    properties: list[DeclaredProperty] = Field(
        default_factory=list, description="properties of the calculator's own, by result name"
    )


class AseOracle(CalculatorOracle[AseOracleConfig]):
    """Relax and label with the ASE calculator named in the config."""

    name: ClassVar[str] = "ase"
    config_type = AseOracleConfig

    @property
    def reuse_calculator(self) -> bool:  # type: ignore[override]
        return not self.config.fresh_calculator

    @property
    def properties(self) -> tuple[OracleProperty, ...]:  # type: ignore[override]
        return tuple(p.declaration() for p in self.config.properties)

    def make_calculator(self) -> Calculator:
        factory = import_object(self.config.calculator)
        return factory(**self.config.calculator_kwargs)

    def version(self) -> str:
        return self.config.calculator

    def supported_elements(self) -> Collection[str] | None:
        return None if self.config.elements is None else set(self.config.elements)
