"""Held-out metrics of a probabilistic regressor: accuracy, ranking, likelihood and coverage."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from scipy.stats import spearmanr
from torch.distributions import Normal


@dataclass(frozen=True)
class RegressionMetrics:
    """Metrics of one target on ``count`` labeled structures (label units where dimensioned).

    Attributes:
        mae: mean absolute error of the predictive mean.
        rmse: root mean squared error.
        spearman: Spearman rank correlation of mean and label.
        nll: mean Gaussian negative log likelihood of the labels (nats).
        coverage: fraction of labels inside the central ``nominal`` predictive interval.
        nominal: the interval's nominal coverage.
        count: labels used (NaN labels are skipped).
    """

    mae: float
    rmse: float
    spearman: float
    nll: float
    coverage: float
    nominal: float
    count: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def regression_metrics(
    mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor, nominal: float = 0.9
) -> RegressionMetrics:
    """Metrics of a Gaussian prediction ``N(mean, std²)`` of ``y``, all ``(n,)``."""
    known = ~y.isnan()
    mean, std, y = mean[known].double(), std[known].double(), y[known].double()
    normal = Normal(mean, std)
    z = Normal(0.0, 1.0).icdf(torch.tensor((1 + nominal) / 2, dtype=torch.double))
    return RegressionMetrics(
        mae=float((mean - y).abs().mean()),
        rmse=float((mean - y).pow(2).mean().sqrt()),
        spearman=float(spearmanr(mean.numpy(), y.numpy()).statistic),
        nll=float(-normal.log_prob(y).mean()),
        coverage=float(((y - mean).abs() <= z * std).double().mean()),
        nominal=nominal,
        count=int(known.sum()),
    )
