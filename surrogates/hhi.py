"""The HHI objective for BoTorch: a feature column of production HHI
(:func:`matterloop.data.hhi.hhi_production`) and a deterministic model that reads it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from botorch.models.deterministic import GenericDeterministicModel
from pymatgen.core import Structure

from matterloop.data.hhi import HHIError, hhi_production


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
    HHI (see :meth:`matterloop.surrogates.surrogate.Surrogate.features`); the model reads the last
    column, so its posterior is ``(..., n, 1)`` with zero variance.
    """

    def __init__(self) -> None:
        super().__init__(f=select_hhi, num_outputs=1)


def select_hhi(X: torch.Tensor) -> torch.Tensor:
    """``(..., n, 1)``: the HHI column of ``(..., n, d + 1)`` features."""
    return X[..., -1:]
