"""Conditioned properties: their normalisation and tensor encoding.

Three kinds of property condition the generator (:class:`~matterloop.data.properties.PropertyKind`,
whose labels :func:`~matterloop.data.properties.raw_labels` gives or reads off the structures):

* ``scalar``: the label, optionally log-transformed, standardized with the fine-tuning labels'
  mean and std;
* ``chemical_system``: a multi-hot vector over elements;
* ``space_group``: the international number 1-230.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from pymatgen.core import Element

from matterloop.data.properties import ConditionError, PropertyKind, property_kind
from matterloop.data.quantities import canonical_name, known_quantity
from matterloop.generator.diffusion.atom_types import MAX_Z

NUM_SPACE_GROUPS = 230


@dataclass(frozen=True)
class PropertySpec:
    """One conditioned property and, for scalars, its normalisation.

    Attributes:
        name: property name; kind: see :class:`PropertyKind`.
        log: scalars only: standardize ``log(value)`` instead of the value (values must be > 0).
        mean, std: of the (transformed) fine-tuning labels.
        low, high: 1st and 99th percentile of the labels, in the property's own units; range
            targets are drawn inside them.
    """

    name: str
    kind: PropertyKind
    log: bool = False
    mean: float = 0.0
    std: float = 1.0
    low: float = -math.inf
    high: float = math.inf

    @classmethod
    def fit(cls, name: str, labels: Sequence[float] = (), log: bool | None = None) -> PropertySpec:
        """The spec of ``name`` (canonical, :func:`canonical_name`), normalised by ``labels``
        (``nan`` = unknown) for scalars, on a log scale by default for heavy-tailed quantities
        (:attr:`~matterloop.data.quantities.KnownQuantity.log_scale`: bulk and shear
        moduli).

        Raises:
            ConditionError: a scalar with under two known labels, or a log scale with labels ≤ 0.
        """
        name = canonical_name(name)
        kind = property_kind(name)
        if kind != PropertyKind.SCALAR:
            return cls(name, kind)
        values = np.asarray(labels, dtype=float)
        values = values[np.isfinite(values)]
        if values.size < 2:
            raise ConditionError(f"{name}: need at least two labeled structures, got {values.size}")
        if log is None:
            known = known_quantity(name)
            log = known is not None and known.log_scale
        if log and (values <= 0).any():
            raise ConditionError(f"{name}: a log scale needs positive labels")
        transformed = np.log(values) if log else values
        low, high = np.percentile(values, [1.0, 99.0])
        return cls(
            name,
            kind,
            log=log,
            mean=float(transformed.mean()),
            std=float(max(transformed.std(), 1e-8)),
            low=float(low),
            high=float(high),
        )

    def to_dict(self) -> dict:
        """Primitives only (model files are read without unpickling classes)."""
        return {**asdict(self), "kind": self.kind.value}

    @classmethod
    def from_dict(cls, data: Mapping) -> PropertySpec:
        return cls(**{**data, "kind": PropertyKind(data["kind"])})

    def standardize(self, values: np.ndarray) -> np.ndarray:
        """Scalar labels in the property's units → standardized (transformed) values."""
        values = np.asarray(values, dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log(values)
        return (values - self.mean) / self.std

    def encode(self, raw: Sequence[object]) -> PropertyValues:
        """Tensors of one raw value per crystal; ``None`` or ``nan`` means no condition.

        Raw values: floats (scalar), element-symbol collections or ``Li-Co-O`` strings (chemical
        system), ints 1-230 (space group).
        """
        if self.kind == PropertyKind.SCALAR:
            numbers = np.array([math.nan if v is None else float(v) for v in raw], dtype=float)
            values = torch.tensor(self.standardize(numbers), dtype=torch.float32)
            present = torch.isfinite(values)
            return PropertyValues(torch.nan_to_num(values, nan=0.0), present)
        if self.kind == PropertyKind.CHEMICAL_SYSTEM:
            values = torch.zeros(len(raw), MAX_Z)
            for row, system in enumerate(raw):
                if system is not None:
                    values[row, [z - 1 for z in element_numbers(system)]] = 1.0
            return PropertyValues(values, values.sum(-1) > 0)
        numbers = [0 if v is None else int(v) for v in raw]
        values = torch.tensor(numbers, dtype=torch.long)
        return PropertyValues(values, values > 0)


@dataclass
class PropertyValues:
    """One property's condition for ``B`` crystals.

    Attributes:
        values: ``(B,)`` float standardized scalars, ``(B, MAX_Z)`` float multi-hot chemical
            systems (column ``Z - 1``), or ``(B,)`` long space-group numbers (0 where absent).
        present: ``(B,)`` bool; False means "no condition" (unknown label, or dropped).
    """

    values: torch.Tensor
    present: torch.Tensor

    def without(self, dropped: torch.Tensor) -> PropertyValues:
        """The same values with the crystals ``dropped`` ``(B,)`` bool marked absent."""
        return PropertyValues(self.values, self.present & ~dropped)


def element_numbers(system: str | Sequence[str]) -> list[int]:
    """Atomic numbers of a chemical system given as ``Li-Co-O`` or as symbols.

    Raises:
        ConditionError: an unknown element symbol, or one beyond the generator's vocabulary.
    """
    symbols = system.split("-") if isinstance(system, str) else list(system)
    numbers = []
    for symbol in symbols:
        symbol = symbol.strip()
        if not Element.is_valid_symbol(symbol):
            raise ConditionError(f"unknown element {symbol!r} in chemical system {system!r}")
        number = Element(symbol).Z
        if number > MAX_Z:
            raise ConditionError(f"element {symbol} (Z = {number}) is beyond Z = {MAX_Z}")
        numbers.append(number)
    if not numbers:
        raise ConditionError("empty chemical system")
    return sorted(set(numbers))
