"""Generation targets: an exact value or a range per property, drawn once per sample.

A range ``low < value < high`` (either side may be open) is sampled as follows: each sample gets a
target drawn uniformly, in the standardized (possibly log) scale the adapter sees, from the range
intersected with the 1st-99th percentile band of the fine-tuning labels. Targets thus stay where
the adapter was trained, an open side is bounded by the data, and the whole feasible part of the
range is covered rather than one value. When the range misses the band altogether, its bound
nearest to the data is the target (an extrapolation that guidance pushes towards).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from matterloop.data.properties import ConditionError, PropertyKind
from matterloop.data.quantities import canonical_name
from matterloop.generator.conditioning.properties import (
    NUM_SPACE_GROUPS,
    PropertySpec,
    element_numbers,
)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NAME = r"[A-Za-z_]\w*"
_COMPARISON = re.compile(rf"^\s*({_NAME})\s*(<=?|>=?|=)\s*(\S.*?)\s*$")
_BETWEEN = re.compile(rf"^\s*({_NUMBER})\s*<=?\s*({_NAME})\s*<=?\s*({_NUMBER})\s*$")
_RANGE = re.compile(rf"^\s*(?:({_NUMBER})\s*<=?\s*)?x?\s*(?:(<=?|>=?)\s*({_NUMBER}))?\s*$")


@dataclass(frozen=True)
class Target:
    """What one property should be, for one :class:`PropertySpec`.

    Attributes:
        spec: the property.
        value: the exact target (a float, an element-symbol string, a space-group number), or
            ``None`` for a scalar range.
        low, high: the scalar range (``-inf``/``inf`` where open).
    """

    spec: PropertySpec
    value: object = None
    low: float = -math.inf
    high: float = math.inf

    def draw(self, count: int, rng: np.random.Generator) -> list[object]:
        """``count`` raw target values (see the module docstring for ranges)."""
        if self.value is not None:
            return [self.value] * count
        spec = self.spec
        low, high = max(self.low, spec.low), min(self.high, spec.high)
        if low > high:
            nearest = self.high if self.high < spec.low else self.low
            return [nearest] * count
        scaled = spec.standardize(np.array([low, high]))
        draws = rng.uniform(scaled[0], scaled[1], size=count) * spec.std + spec.mean
        return list(np.exp(draws) if spec.log else draws)

    def describe(self) -> str:
        """``name=value``, ``name>low``, ``name<high`` or ``low<name<high``."""
        name = self.spec.name
        if self.value is not None:
            return f"{name}={self.value}"
        if math.isinf(self.high):
            return f"{name}>{self.low:g}"
        if math.isinf(self.low):
            return f"{name}<{self.high:g}"
        return f"{self.low:g}<{name}<{self.high:g}"


def split_condition(text: str) -> tuple[str, object]:
    """``name`` and value of a command-line condition: ``magnetic_density=0.2``, ``hhi<1500``,
    ``magnetic_density>0.15``, ``0.1<band_gap<2``, ``chemical_system=Li-Co-O``,
    ``space_group=225``.

    The value is the text after ``=``, or the range as ``>0.15`` / ``<1500`` / ``0.1<x<2``.
    """
    between = _BETWEEN.match(text)
    if between:
        low, name, high = between.groups()
        return name, f"{low}<x<{high}"
    comparison = _COMPARISON.match(text)
    if not comparison:
        raise ConditionError(
            f"cannot read condition {text!r}; expected NAME=VALUE, NAME>VALUE, NAME<VALUE or "
            "LOW<NAME<HIGH"
        )
    name, operator, value = comparison.groups()
    return name, value if operator == "=" else f"{operator}{value}"


def parse_target(spec: PropertySpec, value: object) -> Target:
    """The target ``value`` means for ``spec``: a float or range string (scalar), a ``Fe-O``
    string or symbols (chemical system), an int (space group).

    Raises:
        ConditionError: a value that does not fit the property, naming it.
    """
    if spec.kind == PropertyKind.CHEMICAL_SYSTEM:
        if not isinstance(value, str | list | tuple | set | frozenset):
            raise ConditionError(f"{spec.name}: expected a system like 'Li-Co-O', got {value!r}")
        element_numbers(value)  # validates
        return Target(spec, value=value if isinstance(value, str) else "-".join(value))
    if spec.kind == PropertyKind.SPACE_GROUP:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConditionError(f"{spec.name}: expected a number 1-230, got {value!r}") from None
        if not 1 <= number <= NUM_SPACE_GROUPS or (isinstance(value, float) and number != value):
            raise ConditionError(f"{spec.name}: expected a number 1-230, got {value!r}")
        return Target(spec, value=number)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return Target(spec, value=_finite(spec, float(value)))
    if isinstance(value, str):
        return _scalar_range(spec, value)
    raise ConditionError(f"{spec.name}: expected a number or a range like '>0.15', got {value!r}")


def parse_targets(
    specs: Mapping[str, PropertySpec], conditions: Mapping[str, object]
) -> dict[str, Target]:
    """Targets of ``conditions`` (property name or alias → value) for a model conditioned on
    ``specs``, keyed by the model's names.

    Raises:
        ConditionError: a property the model is not conditioned on, or a bad value.
    """
    by_canonical = {canonical_name(name): name for name in specs}
    targets = {}
    for name, value in conditions.items():
        stored = by_canonical.get(canonical_name(name))
        if stored is None:
            known = ", ".join(specs) or "none"
            raise ConditionError(f"the model has no adapter for {name!r} (conditioned on: {known})")
        if stored in targets:
            raise ConditionError(f"{stored} given twice (as {name!r})")
        targets[stored] = parse_target(specs[stored], value)
    return targets


def _finite(spec: PropertySpec, value: float) -> float:
    if not math.isfinite(value) or (spec.log and value <= 0):
        raise ConditionError(f"{spec.name}: target {value} is out of the property's domain")
    return value


def _scalar_range(spec: PropertySpec, text: str) -> Target:
    try:
        return Target(spec, value=_finite(spec, float(text)))
    except ValueError:
        pass
    match = _RANGE.match(text)
    if not match or not any(match.groups()):
        raise ConditionError(
            f"{spec.name}: cannot read {text!r}; expected a number, '>LOW', '<HIGH' or 'LOW<x<HIGH'"
        )
    first, operator, bound = match.groups()
    low, high = (float(first), math.inf) if first else (-math.inf, math.inf)
    if operator and operator.startswith("<"):
        high = float(bound)
    elif operator:
        if first:
            raise ConditionError(f"{spec.name}: cannot read {text!r}")
        low = float(bound)
    if not low < high:
        raise ConditionError(f"{spec.name}: empty range {text!r}")
    return Target(spec, low=low, high=high)
