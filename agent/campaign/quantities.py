"""The quantities a campaign can optimize or constrain, and where each comes from.

- ``oracle`` quantities are read from an :class:`~matterloop.core.result.OracleResult` (after the
  oracle relaxed and labeled the structure); for unlabeled candidates the surrogate predicts them.
  Besides the built-in ones, every property the campaign's oracle declares
  (:mod:`matterloop.oracles.properties`) is one, with its unit (:func:`declare_oracle_properties`).
- ``function`` quantities are computed exactly from a structure (its composition, its density;
  :mod:`matterloop.data.computed`). A config may also name any function
  ``"package.module:function"`` taking a pymatgen ``Structure`` and returning a float: a
  deterministic quantity of the user's own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from matterloop.core.errors import UndefinedQuantity
from matterloop.core.result import OracleResult
from matterloop.data.computed import structure_function
from matterloop.data.quantities import KNOWN_QUANTITIES, canonical_name
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.properties import OracleProperty

Source = Literal["oracle", "function"]


@dataclass(frozen=True)
class Quantity:
    """A named quantity with its unit, a short ``label`` for table headers (default: the name
    in words), and its source: an oracle quantity is read off a result by ``from_result``; a
    function quantity is computed from a structure by :mod:`matterloop.data.computed`."""

    name: str
    unit: str
    source: Source
    from_result: Callable[[OracleResult, ReferenceHull | None], float | None] | None = None
    label: str = ""

    @property
    def header(self) -> str:
        """The label, else the name's last part in words (``mod:band_gap`` → ``band gap``)."""
        return self.label or self.name.rpartition(":")[2].replace("_", " ")


def e_above_hull(result: OracleResult, hull: ReferenceHull | None) -> float | None:
    if hull is None:
        raise UndefinedQuantity("e_above_hull needs a reference hull")
    try:
        return hull.e_above_hull_of(result)
    except ValueError as exc:
        if "elemental reference" in str(exc):
            return None
        raise


def absolute_magnetization(result: OracleResult, _hull: ReferenceHull | None) -> float | None:
    total = result.total_magnetization
    return None if total is None else abs(total)


def unit(name: str) -> str:
    """The unit of a quantity of :mod:`matterloop.data.quantities`."""
    return KNOWN_QUANTITIES[name].unit


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity(
            "magnetic_density",
            unit("magnetic_density"),
            "oracle",
            from_result=lambda r, _: r.magnetic_density,
            label="mag. density",
        ),
        Quantity(
            "total_magnetization",
            unit("total_magnetization"),
            "oracle",
            from_result=absolute_magnetization,
            label="|M|",
        ),
        Quantity(
            "energy_per_atom",
            unit("energy_per_atom"),
            "oracle",
            from_result=lambda r, _: r.energy_per_atom,
            label="energy",
        ),
        Quantity(
            "e_above_hull",
            unit("e_above_hull"),
            "oracle",
            from_result=e_above_hull,
            label="E_hull",
        ),
        Quantity(
            "hhi_production",
            unit("hhi_production"),
            "function",
            label="HHI",
        ),
        Quantity("density", unit("density"), "function"),
    )
}
"""The built-in quantities; their names and units are those of
:mod:`matterloop.data.quantities`."""


DECLARED: dict[str, Quantity] = {}
"""Quantities declared by oracles (:func:`declare_oracle_properties`), by name."""


def declared_quantity(item: OracleProperty) -> Quantity:
    """The oracle quantity of a declared property: read from ``result.properties``."""

    def from_result(result: OracleResult, _hull: ReferenceHull | None) -> float | None:
        return result.properties.get(item.name)

    return Quantity(item.name, item.unit, "oracle", from_result=from_result)


def declare_oracle_properties(oracle: str, properties: Sequence[OracleProperty]) -> None:
    """Make the properties the oracle ``oracle`` declares quantities of campaigns.

    Raises:
        ValueError: a property named like a built-in quantity.
    """
    for item in properties:
        if item.name in QUANTITIES:
            raise ValueError(
                f"oracle {oracle!r} declares the property {item.name!r}, the name of a built-in "
                "quantity; rename it in the oracle"
            )
        DECLARED[item.name] = declared_quantity(item)


def quantity(name: str) -> Quantity:
    """The quantity ``name`` (or its alias): a built-in, a property declared by an oracle
    (:func:`declare_oracle_properties`), or a ``"package.module:function"`` of a structure."""
    name = canonical_name(name)
    if name in QUANTITIES:
        return QUANTITIES[name]
    if name in DECLARED:
        return DECLARED[name]
    if ":" in name:
        structure_function(name)  # a function that cannot be imported is an error here
        return Quantity(name, "", "function")
    raise ValueError(f"unknown quantity {name!r}; known: {', '.join(sorted(QUANTITIES))}")


def oracle_values(
    result: OracleResult, names: list[str], hull: ReferenceHull | None
) -> dict[str, float]:
    """Oracle quantities of a labeled result; a value the result lacks is NaN."""
    values = {}
    for name in names:
        value = quantity(name).from_result(result, hull) if result.ok else None
        values[name] = float("nan") if value is None else float(value)
    return values
