"""One name and one unit per quantity, and the other names datasets and tools store it under.

Every part of matterloop that names a quantity reads this registry: the generator's conditioning
(``generator finetune --property``, ``generator sample --condition``), campaigns (objectives,
constraints, adapters, the surrogate's prior), dataset labels and the results of oracles. A name
given in any of them may be an alias; it means the canonical quantity::

    >>> canonical_name("dft_mag_density")
    'magnetic_density'

Names outside the registry (a property an oracle plug-in declares, a label of the user's own) pass
through unchanged. ``matterloop data quantities`` prints the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator


@dataclass(frozen=True)
class KnownQuantity:
    """A quantity: canonical ``name``, ``unit``, one-line ``description``, the other names it is
    stored under (``aliases``), and whether it is heavy-tailed and positive, so that models
    condition on its logarithm (``log_scale``)."""

    name: str
    unit: str
    description: str
    aliases: tuple[str, ...] = ()
    log_scale: bool = False


KNOWN_QUANTITIES: dict[str, KnownQuantity] = {
    q.name: q
    for q in (
        KnownQuantity(
            "magnetic_density",
            "µB/Å³",
            "absolute total magnetization per cell volume",
            ("mag_density", "dft_mag_density"),
        ),
        KnownQuantity("total_magnetization", "µB", "total magnetic moment of the cell"),
        KnownQuantity("energy_per_atom", "eV/atom", "total energy per atom"),
        KnownQuantity(
            "formation_energy_per_atom",
            "eV/atom",
            "energy relative to the elements",
            ("formation_energy",),
        ),
        KnownQuantity(
            "e_above_hull", "eV/atom", "energy above the convex hull", ("energy_above_hull",)
        ),
        KnownQuantity("band_gap", "eV", "electronic band gap (PBE in MP-20)", ("dft_band_gap",)),
        KnownQuantity(
            "bulk_modulus",
            "GPa",
            "resistance to hydrostatic compression (VRH in MP-20)",
            ("dft_bulk_modulus",),
            log_scale=True,
        ),
        KnownQuantity(
            "shear_modulus", "GPa", "resistance to shear (VRH)", ("dft_shear_modulus",), True
        ),
        KnownQuantity(
            "hhi_production",
            "0–10,000",
            "supply risk: Herfindahl–Hirschman index of production",
            ("hhi",),
        ),
        KnownQuantity("density", "g/cm³", "mass density"),
    )
}

_CANONICAL = {alias: q.name for q in KNOWN_QUANTITIES.values() for alias in (q.name, *q.aliases)}


def canonical_name(name: str) -> str:
    """The registry's name of ``name`` (itself when it is canonical or unknown)."""
    return _CANONICAL.get(name, name)


QuantityName = Annotated[str, AfterValidator(canonical_name)]
"""A quantity's name in a typed config: an alias (``hhi``, ``dft_mag_density``) becomes its
canonical name."""


def known_quantity(name: str) -> KnownQuantity | None:
    """The registry entry of ``name`` or its alias; None for a name outside the registry."""
    return KNOWN_QUANTITIES.get(canonical_name(name))


def stored_names(name: str) -> tuple[str, ...]:
    """Every name a label of ``name`` may be stored under: canonical first, then its aliases."""
    known = known_quantity(name)
    return (name,) if known is None else (known.name, *known.aliases)


def quantities_table() -> list[str]:
    """The registry as markdown rows (name, unit, aliases, description)."""
    rows = ["| name | unit | also read as | meaning |", "|---|---|---|---|"]
    for q in KNOWN_QUANTITIES.values():
        aliases = ", ".join(f"`{a}`" for a in q.aliases)
        rows.append(f"| `{q.name}` | {q.unit} | {aliases} | {q.description} |")
    return rows
