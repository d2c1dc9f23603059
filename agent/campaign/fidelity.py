"""Two fidelities in one campaign: what the oracle's picks cost, and what the screen says of them.

A two-fidelity campaign (``screen`` in the config) relaxes its picks with a cheap oracle (an ML
potential) and spends the expensive one (DFT) on the acquisition's choice among them, at the
screen's relaxed geometry (:mod:`matterloop.agent.campaign.loop`). This module holds the two models
of that second choice:

- :class:`CostModel`: CPU-seconds per result of one fidelity as a power law in the number of
  atoms, ``c = a N^b``, fitted in log–log to the campaign's own results (``b`` within [0, 3]:
  plane-wave DFT of small cells grows no faster than N³); the assumed cost until enough results
  are in.
- :class:`ScreenToOracle`: the oracle's quantities on screened structures. A quantity the screen
  also returns is the screen's value plus a GP's prediction of the difference (Δ-learning), the
  GP reading the screen's value as an input feature besides the structure's embedding, so it can
  learn an offset and a rescaling alike (CHGNet's moments against GPAW's). Until the oracle has
  ``initial_labels`` labels of each, the difference is taken as zero: the screen's value stands
  for the oracle's. Quantities known exactly once screened (E_hull, where the hull holds the
  screen's energies) are columns of the features, as are computed ones; the rest get a GP on the
  embedding, learned from the oracle's labels alone.

Features of a screened structure, ``(n, d + k + e + c)`` float64: the ``d``-dimensional
embedding, the screen's values of the ``k`` transferred quantities, the ``e`` exact ones and the
``c`` computed ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

import numpy as np
import pandas as pd
import torch
from botorch.models import ModelList
from matgl.models import MatGLModel
from pymatgen.core import Structure

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.surrogates.columns import column_model
from matterloop.surrogates.surrogate import Surrogate

SCREEN_PREFIX = "screen:"
"""Model outputs named ``screen:<quantity>`` are the screen's value of that quantity."""
MAX_COST_EXPONENT = 3.0


@dataclass(frozen=True)
class CostModel:
    """CPU-seconds of one result: ``prefactor * atoms ** exponent``, from ``measured`` results
    (0: the assumed cost per structure)."""

    prefactor: float
    exponent: float
    measured: int

    @classmethod
    def fit(
        cls, atoms: Sequence[int], seconds: Sequence[float], assumed: float, min_timings: int
    ) -> CostModel:
        """Least squares of ``log seconds`` on ``log atoms``; ``assumed`` CPU-s per structure
        while there are fewer than ``min_timings`` results."""
        if len(seconds) < min_timings:
            return cls(assumed, 0.0, 0)
        x = np.log(np.asarray(atoms, dtype=float))
        y = np.log(np.maximum(np.asarray(seconds, dtype=float), 1e-3))
        exponent = 0.0
        if np.ptp(x) > 0:
            exponent = float(np.clip(np.polyfit(x, y, 1)[0], 0.0, MAX_COST_EXPONENT))
        return cls(float(np.exp(np.mean(y - exponent * x))), exponent, len(seconds))

    def predict(self, atoms: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(n,)`` CPU-seconds of structures of ``atoms`` sites."""
        return self.prefactor * np.asarray(atoms, dtype=float) ** self.exponent


class ScreenToOracle:
    """The model of the oracle's quantities on screened structures (module docstring).

    Args:
        surrogate: an empty surrogate on the network's embedding, whose targets are
            :attr:`learned` (transferred quantities' heads learn the difference oracle − screen).
        config: the campaign's configuration.
        exact: modelled quantities known exactly once screened.
    """

    def __init__(self, surrogate: Surrogate, config: CampaignConfig, exact: Sequence[str]) -> None:
        self.config = config
        self.exact = list(exact)
        self.transferred = [
            name for name in config.modelled if name not in exact and config.screen_provides(name)
        ]
        self.learned = [name for name in config.modelled if name not in exact]
        self.surrogate = surrogate
        self.ids: list[str] = []
        self.ready = False

    @classmethod
    def build(cls, network: MatGLModel, config: CampaignConfig, exact: Sequence[str]) -> Self:
        """An empty model whose heads read ``network``'s embedding."""
        learned = [name for name in config.modelled if name not in exact]
        return cls(Surrogate(network, learned, config.surrogate.head, computed=()), config, exact)

    def inputs(self, structures: Sequence[Structure], screen: pd.DataFrame) -> torch.Tensor:
        """``(n, d + k)`` GP inputs: embedding, then the screen's transferred values (``screen``
        has a row per structure and a column per quantity)."""
        embedding = self.surrogate.embed(structures)
        values = torch.tensor(screen[self.transferred].to_numpy(dtype=float), dtype=torch.double)
        return torch.cat([embedding, values.reshape(len(structures), -1)], dim=-1)

    def add(
        self,
        ids: Sequence[str],
        structures: Sequence[Structure],
        screen: pd.DataFrame,
        oracle: pd.DataFrame,
    ) -> None:
        """Add the oracle's labels of screened ``structures`` (rows of ``screen`` and ``oracle``
        in the same order): differences for transferred quantities, values for the others."""
        if not ids:
            return
        labels = oracle[self.learned].to_numpy(dtype=float).copy()
        for index, name in enumerate(self.learned):
            if name in self.transferred:
                labels[:, index] -= screen[name].to_numpy(dtype=float)
        self.surrogate.add_embedded(self.inputs(structures, screen), torch.as_tensor(labels))
        self.ids += list(ids)

    def refit(self, initial_labels: int) -> bool:
        """Refit the heads once each learned quantity has ``initial_labels`` labels; whether the
        heads are ready."""
        counts = (~self.surrogate.labels.isnan()).sum(dim=0)
        if not self.learned or len(counts) == 0 or int(counts.min()) < initial_labels:
            self.ready = False
            return False
        self.surrogate.refit()
        self.ready = True
        return True

    @property
    def usable(self) -> bool:
        """Whether the model can score candidates: its heads are ready, or every learned quantity
        is transferred (the screen's value standing for the oracle's)."""
        return self.ready or set(self.learned) <= set(self.transferred)

    def features(
        self,
        structures: Sequence[Structure],
        screen: pd.DataFrame,
        computed: dict[str, list[float]],
    ) -> torch.Tensor:
        """``(n, d + k + e + c)`` features (module docstring)."""
        exact = torch.tensor(screen[self.exact].to_numpy(dtype=float), dtype=torch.double)
        columns = [
            torch.tensor(computed[name], dtype=torch.double) for name in self.config.computed
        ]
        return torch.cat(
            [
                self.inputs(structures, screen),
                exact.reshape(len(structures), -1),
                *(c.unsqueeze(-1) for c in columns),
            ],
            dim=-1,
        )

    def model(self, width: int) -> tuple[ModelList, list[str], dict[str, str]]:
        """The BoTorch model on features of ``width`` columns, its output names and the offsets
        (:func:`matterloop.agent.campaign.acquisition.select`)."""
        k, e = len(self.transferred), len(self.exact)
        d = width - k - e - len(self.config.computed)
        models, outputs = [], []
        if self.ready:
            models += self.surrogate.gps
            outputs += self.learned
        for offset, name in enumerate([*self.exact, *self.config.computed]):
            models.append(column_model(d + k + offset))
            outputs.append(name)
        for offset, name in enumerate(self.transferred):
            models.append(column_model(d + offset))
            outputs.append(SCREEN_PREFIX + name)
        offsets = {name: SCREEN_PREFIX + name for name in self.transferred}
        return ModelList(*models), outputs, offsets

    def predict(
        self, features: torch.Tensor
    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
        """Predicted mean and standard deviation (``{quantity: (n,)}``) of every modelled
        quantity at ``(n, D)`` features; the standard deviation is 0 for exact quantities and
        unknown (NaN) for transferred ones before the heads are fitted."""
        n = len(features)
        k = len(self.transferred)
        d = features.shape[-1] - k - len(self.exact) - len(self.config.computed)
        mean: dict[str, list[float]] = {}
        std: dict[str, list[float]] = {}
        if self.ready:
            gp_mean, gp_std = self.surrogate.predict(features)
        for name in self.config.modelled:
            if name in self.exact:
                mean[name] = features[:, d + k + self.exact.index(name)].tolist()
                std[name] = [0.0] * n
                continue
            index = self.learned.index(name)
            base = (
                features[:, d + self.transferred.index(name)]
                if name in self.transferred
                else torch.zeros(n, dtype=torch.double)
            )
            if self.ready:
                mean[name] = (base + gp_mean[:, index]).tolist()
                std[name] = gp_std[:, index].tolist()
            else:
                mean[name] = base.tolist()
                std[name] = [math.nan] * n
        return mean, std
