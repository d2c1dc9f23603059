"""Typed settings shared by every oracle: relaxation and robustness.

Each oracle's own config (e.g. :class:`matterloop.oracles.ml_potentials.CHGNetConfig`) embeds these
two, so a YAML snippet reads::

    oracle:
      name: chgnet
      settings:
        relax: {fmax: 0.05, max_steps: 300, relax_cell: true}
        robustness: {timeout_s: 600, max_retries: 1}
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from matterloop.core.config import StrictModel
from matterloop.core.result import FailureKind


class RelaxConfig(StrictModel):
    """Relaxation of positions and (optionally) the cell with an ASE optimizer."""

    fmax: float = Field(0.05, gt=0, description="force convergence threshold, eV/Å")
    max_steps: int = Field(500, ge=1, description="optimizer steps before giving up")
    relax_cell: bool = Field(True, description="relax the cell with ASE's FrechetCellFilter")
    optimizer: Literal["FIRE", "BFGS", "LBFGS"] = "FIRE"


class RobustnessConfig(StrictModel):
    """How structures are checked and how calculations are isolated, limited and retried.

    With ``isolation: process`` every calculation runs in a long-lived child process that is
    killed when a structure exceeds ``timeout_s`` (and restarted for the next one), so a hung or
    crashing calculator cannot take the batch down. ``inline`` runs in the calling process: no
    start-up cost, but neither timeouts nor crashes are contained. A structure's time limit
    starts once the worker process is ready; the first structure's also covers building the
    calculator (seconds for a pretrained potential).
    """

    isolation: Literal["process", "inline"] = "process"
    timeout_s: float | None = Field(1800.0, gt=0, description="per structure and attempt, s")
    max_retries: int = Field(1, ge=0, description="extra attempts after a retryable failure")
    retry_on: frozenset[FailureKind] = frozenset(
        {FailureKind.WORKER_CRASHED, FailureKind.CALCULATOR_ERROR}
    )
    min_distance: float = Field(
        0.5, gt=0, description="closest allowed approach of two atoms, input and relaxation, Å"
    )
    min_volume: float = Field(0.1, gt=0, description="smallest allowed cell volume, Å³")
