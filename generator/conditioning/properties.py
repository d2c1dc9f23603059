"""Conditioned properties: their kinds, normalisation, labels of structures and tensor encoding.

Three kinds of property condition the generator:

* ``scalar`` (any other name, e.g. ``magnetic_density`` in µB/Å³, ``hhi_production`` on the
  0-10,000 scale): the label, optionally log-transformed, standardized with the fine-tuning
  labels' mean and std;
* ``chemical_system``: the set of elements, e.g. ``Li-Co-O``, a multi-hot vector over elements;
* ``space_group``: the international number 1-230 (``SpacegroupAnalyzer``, symprec 0.1 Å).

Chemical system and space group are read off the structures themselves; so is the HHI
(``hhi_production``) when no HHI label is given. Scalars go by the names of
:mod:`generator.data.quantities`: an alias (``mag_density``, MP-20's ``dft_mag_density``, ``hhi``)
means its canonical quantity, and labels are found under any of its names.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
import torch
from pymatgen.core import Element, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from generator.conditioning.errors import ConditionError
from generator.data.quantities import canonical_name, known_quantity, stored_names
from generator.diffusion.atom_types import MAX_Z

CHEMICAL_SYSTEM = "chemical_system"
SPACE_GROUP = "space_group"
HHI = "hhi_production"
"""The production HHI, read off a structure's composition when no label is given."""
SYMPREC = 0.1
NUM_SPACE_GROUPS = 230


class PropertyKind(StrEnum):
    SCALAR = "scalar"
    CHEMICAL_SYSTEM = "chemical_system"
    SPACE_GROUP = "space_group"


def property_kind(name: str) -> PropertyKind:
    """The kind of property ``name``; :class:`ConditionError` for names unfit as module keys."""
    if not name.isidentifier():
        raise ConditionError(
            f"property name {name!r} must be a Python identifier (e.g. magnetic_density)"
        )
    if name == CHEMICAL_SYSTEM:
        return PropertyKind.CHEMICAL_SYSTEM
    if name == SPACE_GROUP:
        return PropertyKind.SPACE_GROUP
    return PropertyKind.SCALAR


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
        (:attr:`~generator.data.quantities.KnownQuantity.log_scale`: bulk and shear moduli).

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


def chemical_system(structure: Structure) -> str:
    """``Co-Li-O``-style chemical system (symbols sorted alphabetically)."""
    return structure.composition.chemical_system


def space_group_number(structure: Structure) -> int | None:
    """International space-group number at symprec 0.1 Å, ``None`` if the analysis fails."""
    try:
        return int(SpacegroupAnalyzer(structure, symprec=SYMPREC).get_space_group_number())
    except (TypeError, ValueError):
        return None


def structure_hhi(structure: Structure) -> float:
    """Production HHI of the composition, ``nan`` where an element has no HHI entry."""
    from surrogates.errors import HHIError
    from surrogates.hhi import hhi_production

    try:
        return hhi_production(structure)
    except HHIError:
        return math.nan


def raw_labels(
    name: str, structures: Sequence[Structure], labels: Mapping[str, Sequence[float]]
) -> list[object]:
    """One raw label of ``name`` per structure: given in ``labels`` (under any of its names,
    :func:`~generator.data.quantities.stored_names`), or read off the structure (chemical system,
    space group, HHI).

    Raises:
        ConditionError: a scalar with neither labels nor a rule to compute it, or labels of the
            wrong length.
    """
    kind = property_kind(name)
    if kind == PropertyKind.CHEMICAL_SYSTEM:
        return [chemical_system(s) for s in structures]
    if kind == PropertyKind.SPACE_GROUP:
        return [space_group_number(s) for s in structures]
    key = next((k for k in stored_names(name) if k in labels), None)
    if key is None:
        if canonical_name(name) == HHI:
            return [structure_hhi(s) for s in structures]
        known = ", ".join(sorted(labels)) or "none"
        raise ConditionError(f"no labels for property {name!r} (labels given: {known})")
    values = list(labels[key])
    if len(values) != len(structures):
        raise ConditionError(f"{len(values)} labels of {key!r} for {len(structures)} structures")
    return [math.nan if v is None else float(v) for v in values]
