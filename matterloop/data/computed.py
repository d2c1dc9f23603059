"""Quantities computed exactly from a structure, and their feature columns.

Built in: the production HHI (:mod:`matterloop.data.hhi`, 0–10,000) and the density (g/cm³). Any
``"package.module:function"`` that takes a pymatgen ``Structure`` and returns a float is one too:
a quantity of the user's own. A function signals a structure it has no value for by raising
:class:`~matterloop.core.errors.UndefinedQuantity` (the HHI's :class:`~matterloop.data.hhi.HHIError`
is one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from pymatgen.core import Structure

from matterloop.core.errors import UndefinedQuantity
from matterloop.core.imports import import_object
from matterloop.data.hhi import hhi_production
from matterloop.data.quantities import canonical_name

StructureFunction = Callable[[Structure], float]


def density(structure: Structure) -> float:
    """Mass density in g/cm³."""
    return float(structure.density)


BUILT_IN: dict[str, StructureFunction] = {
    "hhi_production": hhi_production,
    "density": density,
}
"""The built-in computed quantities by canonical name."""


def structure_function(name: str) -> StructureFunction:
    """The function of a structure that computes quantity ``name``.

    Raises:
        ValueError: ``name`` is neither built in nor an importable ``"package.module:function"``.
    """
    name = canonical_name(name)
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" in name:
        return import_object(name)
    raise ValueError(f"{name!r} is not a computed quantity; built-in: {', '.join(BUILT_IN)}")


def computed_values(structure: Structure, names: Sequence[str]) -> dict[str, float]:
    """Every quantity of ``names`` for one structure.

    Raises:
        UndefinedQuantity: one of them has no value for this structure.
    """
    return {name: float(structure_function(name)(structure)) for name in names}


def computed_columns(
    structures: Sequence[Structure],
    names: Sequence[str],
    undefined_as_nan: bool = False,
    dtype: torch.dtype = torch.double,
) -> torch.Tensor:
    """``(n, k)`` values of the ``k`` quantities ``names`` for ``n`` structures.

    Args:
        undefined_as_nan: write NaN where a quantity is undefined instead of raising.

    Raises:
        UndefinedQuantity: (of the function's own kind, e.g. ``HHIError``) naming every structure
            whose value is undefined, unless ``undefined_as_nan``.
    """
    columns = []
    for name in names:
        function = structure_function(name)
        column: list[float] = []
        undefined: list[str] = []
        error: UndefinedQuantity | None = None
        for structure in structures:
            try:
                column.append(float(function(structure)))
            except UndefinedQuantity as exc:
                column.append(math.nan)
                undefined.append(structure.composition.reduced_formula)
                error = exc
        if error is not None and not undefined_as_nan:
            raise type(error)(
                f"{name} undefined for {len(undefined)} of {len(structures)} structures "
                f"({', '.join(sorted(set(undefined))[:10])}); remove them before building "
                "features"
            ) from error
        columns.append(torch.tensor(column, dtype=dtype))
    if not columns:
        return torch.empty(len(structures), 0, dtype=dtype)
    return torch.stack(columns, dim=-1)
