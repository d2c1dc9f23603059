"""Properties an oracle returns beyond energies, forces, stress and magnetic moments.

An oracle declares them in code, with unit and meaning, as a class attribute::

    class MyOracle(CalculatorOracle[MyConfig]):
        properties = (OracleProperty("bulk_modulus", "GPa", "Birch–Murnaghan fit of E(V)"),)

and puts one finite number per declared name into ``OracleResult.properties``. Campaign
objectives and constraints, surrogate heads, adapters, tables, the report and MLflow then take
them by name, with the unit shown. A value that is missing, not a number or not finite makes the
result a failure (kind ``invalid_property``), never a label.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from numbers import Real
from typing import Any

from matterloop.core.result import Failure, FailureKind, OracleResult
from matterloop.data.quantities import known_quantity

RESULT_FIELDS = frozenset(f.name for f in fields(OracleResult))


@dataclass(frozen=True)
class OracleProperty:
    """A property an oracle returns: its ``name`` (a Python identifier, not a result field such
    as ``energy``), ``unit`` (e.g. ``"GPa"``, ``"eV"``, ``""`` for a pure number), a one-line
    ``description``, and whether it is computed on the relaxed structure (``needs_relaxed``: a
    calculator oracle declaring it must relax, which is checked when the oracle is built).
    A quantity of :mod:`matterloop.data.quantities` goes by its canonical name and unit
    there (``bulk_modulus`` in GPa, not ``dft_bulk_modulus`` or MPa)."""

    name: str
    unit: str
    description: str
    needs_relaxed: bool = True

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"property name {self.name!r} must be a Python identifier")
        if self.name in RESULT_FIELDS:
            raise ValueError(f"property name {self.name!r} is a field of every oracle result")
        known = known_quantity(self.name)
        if known is not None and known.name != self.name:
            raise ValueError(
                f"property name {self.name!r} is an alias of {known.name!r}; declare {known.name!r}"
            )
        if known is not None and known.unit != self.unit:
            raise ValueError(
                f"property {self.name!r} is in {known.unit}, the one unit of this quantity in "
                f"matterloop, not {self.unit or 'no unit'}; convert the value"
            )


def declared_properties(oracle: Any) -> tuple[OracleProperty, ...]:
    """The properties an oracle (instance or class) declares; none when it declares nothing.

    Raises:
        TypeError: a ``properties`` attribute that is not a sequence of :class:`OracleProperty`,
            or two of the same name.
    """
    owner = getattr(oracle, "__name__", type(oracle).__name__)
    return valid_declarations(getattr(oracle, "properties", ()), owner)


def declared_properties_for(target: Any, settings: Mapping[str, Any]) -> tuple[OracleProperty, ...]:
    """The properties an oracle class ``target`` built with ``settings`` declares: from its
    ``properties_for(settings)`` where they depend on its settings (the generic ``ase``
    oracle), else from the class (:func:`declared_properties`).

    Raises:
        TypeError: as :func:`declared_properties`; pydantic's ValidationError: bad settings.
    """
    properties_for = getattr(target, "properties_for", None)
    if callable(properties_for):
        return valid_declarations(properties_for(settings), target.__name__)
    return declared_properties(target)


def valid_declarations(declared: Any, owner: str) -> tuple[OracleProperty, ...]:
    """``declared`` as a tuple, checked: :class:`OracleProperty` items of distinct names."""
    if not isinstance(declared, Sequence) or not all(
        isinstance(p, OracleProperty) for p in declared
    ):
        raise TypeError(f"{owner}.properties must be a tuple of OracleProperty")
    names = [p.name for p in declared]
    if len(set(names)) != len(names):
        raise TypeError(f"{owner}: properties declared twice: {names}")
    return tuple(declared)


def property_problem(values: Mapping[str, Any], declared: Sequence[OracleProperty]) -> str | None:
    """Why ``values`` are not one finite number per declared property; None when they are."""
    for item in declared:
        if item.name not in values:
            return f"declared property {item.name!r} was not returned"
        value = values[item.name]
        if isinstance(value, bool) or not isinstance(value, Real):
            return f"property {item.name!r} is a {type(value).__name__} ({value!r}), not a number"
        if not math.isfinite(value):
            return f"property {item.name!r} is {value} [{item.unit}], not a finite number"
    undeclared = sorted(set(values) - {p.name for p in declared})
    if undeclared:
        return f"undeclared propert{'y' if len(undeclared) == 1 else 'ies'} {', '.join(undeclared)}"
    return None


def evaluate_checked(oracle: Any, structures: Sequence[Any]) -> list[OracleResult]:
    """``oracle.evaluate(structures)`` with every result :func:`checked` against the properties
    the oracle declares: how matterloop calls any oracle, built-in or plug-in."""
    declared = declared_properties(oracle)
    return [checked(result, declared) for result in oracle.evaluate(structures)]


def checked(result: OracleResult, declared: Sequence[OracleProperty]) -> OracleResult:
    """``result`` with its property values as floats, or a failed result (kind
    ``invalid_property``) saying which value is wrong; failed results pass unchanged."""
    if not result.ok:
        return result
    problem = property_problem(result.properties, declared)
    if problem is not None:
        return replace(
            result, properties={}, failure=Failure(FailureKind.INVALID_PROPERTY, problem)
        )
    return replace(result, properties={k: float(v) for k, v in result.properties.items()})
