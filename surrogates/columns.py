"""Exact feature columns as BoTorch outputs: a deterministic model that reads one column of ``X``.

Computed quantities (:mod:`matterloop.data.computed`, e.g. the production HHI) and values known
exactly once a structure is screened are columns of the feature tensor; as outputs of a
``ModelList`` their posterior is the column itself, with zero variance.
"""

from __future__ import annotations

from botorch.models.deterministic import GenericDeterministicModel


def column_model(column: int) -> GenericDeterministicModel:
    """A deterministic model on ``(..., n, D)`` features whose ``(..., n, 1)`` output is column
    ``column`` of ``X`` (negative counts from the end)."""
    return GenericDeterministicModel(lambda X: X[..., column].unsqueeze(-1), num_outputs=1)
