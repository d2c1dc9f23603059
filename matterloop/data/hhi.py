"""Supply risk as the Herfindahl–Hirschman index (HHI) of production, from composition.

Values come from :class:`pymatgen.analysis.hhi.HHIModel` (Gaultois et al., Chem. Mater. 25, 2911
(2013)): the weight-fraction average of the elements' production HHI, on a 0–10,000 scale (low
risk below 1,500, high above 2,500). The table has no entry for H and a few other elements, and
pymatgen answers ``None`` for such compositions; here that is an :class:`HHIError` instead, so a
missing value never enters an objective. Callers drop or handle those candidates explicitly.
"""

from __future__ import annotations

from functools import cache

from pymatgen.analysis.hhi import HHIModel
from pymatgen.core import Composition, Structure

from matterloop.core.errors import UndefinedQuantity


class HHIError(UndefinedQuantity):
    """The HHI of a composition is undefined (an element has no entry in the HHI table)."""


@cache
def hhi_model() -> HHIModel:
    """The HHI table, read once."""
    return HHIModel()


def hhi_production(composition: Composition | Structure | str) -> float:
    """Production HHI (0–10,000) of a composition, a structure's composition or a formula.

    Raises:
        HHIError: if an element has no HHI entry (e.g. H).
    """
    if isinstance(composition, Structure):
        composition = composition.composition
    composition = Composition(composition)
    missing = [el.symbol for el in composition if el.symbol not in hhi_model().symbol_hhip_hhir]
    value = hhi_model().get_hhi_production(composition)
    if missing or value is None:
        raise HHIError(
            f"HHI undefined for {composition.reduced_formula}: no HHI entry for "
            f"{', '.join(missing) or 'its elements'}"
        )
    return float(value)
