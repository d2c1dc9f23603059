"""Properties of structures by name: their kinds, and their labels, given or read off the
structures.

* ``scalar`` (any other name, e.g. ``magnetic_density`` in µB/Å³, ``hhi_production`` on the
  0-10,000 scale), labeled under the names of :mod:`matterloop.data.quantities` (an alias such as
  ``mag_density``, MP-20's ``dft_mag_density`` or ``hhi`` means its canonical quantity);
* ``chemical_system``: the set of elements, e.g. ``Li-Co-O``;
* ``space_group``: the international number 1-230 (``SpacegroupAnalyzer``, symprec 0.1 Å).

Chemical system and space group are read off the structures themselves; so is the HHI
(``hhi_production``) when no HHI label is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from enum import StrEnum

from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matterloop.core.errors import DataError
from matterloop.data.hhi import HHIError, hhi_production
from matterloop.data.quantities import canonical_name, stored_names


class ConditionError(DataError):
    """A property, label or target that cannot be used (a ``ValueError``); the message names it."""


CHEMICAL_SYSTEM = "chemical_system"
SPACE_GROUP = "space_group"
HHI = "hhi_production"
"""The production HHI, read off a structure's composition when no label is given."""
SYMPREC = 0.1


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
    try:
        return hhi_production(structure)
    except HHIError:
        return math.nan


def raw_labels(
    name: str, structures: Sequence[Structure], labels: Mapping[str, Sequence[float]]
) -> list[object]:
    """One raw label of ``name`` per structure: given in ``labels`` (under any of its names,
    :func:`~matterloop.data.quantities.stored_names`), or read off the structure (chemical
    system, space group, HHI).

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
