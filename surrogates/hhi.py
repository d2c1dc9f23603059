"""Supply risk as the Herfindahl–Hirschman index (HHI) of production, from composition.

Values come from :class:`pymatgen.analysis.hhi.HHIModel` (Gaultois et al., Chem. Mater. 25, 2911
(2013)): the weight-fraction average of the elements' production HHI, on a 0–10,000 scale (low
risk below 1,500, high above 2,500). The table has no entry for H and a few other elements, and
pymatgen answers ``None`` for such compositions; here that is an :class:`HHIError` instead, so a
missing value never enters an objective. Callers drop or handle those candidates explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import torch
from botorch.models.deterministic import GenericDeterministicModel
from pymatgen.analysis.hhi import HHIModel
from pymatgen.core import Composition, Structure

from surrogates.errors import HHIError


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


def hhi_column(structures: Sequence[Structure], dtype: torch.dtype = torch.double) -> torch.Tensor:
    """``(n, 1)`` production HHI of each structure.

    Raises:
        HHIError: naming every structure whose HHI is undefined.
    """
    values, undefined = [], []
    for structure in structures:
        try:
            values.append(hhi_production(structure))
        except HHIError:
            undefined.append(structure.composition.reduced_formula)
    if undefined:
        raise HHIError(
            f"HHI undefined for {len(undefined)} of {len(structures)} structures "
            f"({', '.join(sorted(set(undefined))[:10])}); remove them before building features"
        )
    return torch.tensor(values, dtype=dtype).unsqueeze(-1)


class HHIFeatureModel(GenericDeterministicModel):
    """The HHI objective as a deterministic BoTorch model on the surrogate's feature tensor.

    Features are ``(..., n, d + 1)``: a structure embedding followed by the structure's production
    HHI (see :meth:`surrogates.surrogate.Surrogate.features`); the model reads the last column,
    so its posterior is ``(..., n, 1)`` with zero variance.
    """

    def __init__(self) -> None:
        super().__init__(f=select_hhi, num_outputs=1)


def select_hhi(X: torch.Tensor) -> torch.Tensor:
    """``(..., n, 1)``: the HHI column of ``(..., n, d + 1)`` features."""
    return X[..., -1:]
