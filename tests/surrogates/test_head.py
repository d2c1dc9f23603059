import math

import pytest
import torch

from matterloop.surrogates.head import (
    HeadData,
    build_gp,
    fit_head,
    gp_inputs,
    interval_scale,
    predictive,
    restore_head,
    scale_variance,
)
from matterloop.surrogates.metrics import regression_metrics


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, 4)`` inputs and noisy labels of a smooth function."""
    generator = torch.Generator().manual_seed(seed)
    Z = torch.rand(n, 4, generator=generator, dtype=torch.double)
    y = torch.sin(3 * Z[:, 0]) + Z[:, 1] ** 2 + 0.1 * torch.randn(n, generator=generator)
    return Z, y.double()


def test_interval_scale_of_calibrated_and_overconfident_predictions():
    y = torch.randn(20_000, generator=torch.Generator().manual_seed(0), dtype=torch.double)
    mean = torch.zeros_like(y)
    assert interval_scale(mean, torch.ones_like(y), y, 0.9) == pytest.approx(1.0, abs=0.03)
    assert interval_scale(mean, torch.full_like(y, 0.5), y, 0.9) == pytest.approx(2.0, abs=0.06)


def test_scale_variance_keeps_mean_and_scales_std():
    Z, y = synthetic(40, 1)
    gp = build_gp(Z, y)
    gp.eval()
    Zq, _ = synthetic(10, 2)
    with torch.no_grad():
        before = gp.posterior(gp_inputs(Zq))
        mean, variance = before.mean, before.variance
    scale_variance(gp, 1.7)
    with torch.no_grad():
        after = gp.posterior(gp_inputs(Zq))
        torch.testing.assert_close(after.mean, mean)
        torch.testing.assert_close(after.variance, variance * 1.7**2)


def test_calibrated_head_covers_new_data():
    Z, y = synthetic(300, 3)
    data = HeadData(Z[:150], y[:150], Z[150:220], y[150:220], Z[220:], y[220:])
    gp, scale = fit_head(data, coverage=0.9, max_iter=100)
    assert math.isfinite(scale) and scale > 0
    assert gp.train_inputs[0].shape[-2] == 300  # held-out and remaining labels were added
    Zt, yt = synthetic(1000, 4)
    metrics = regression_metrics(*predictive(gp, Zt), yt, nominal=0.9)
    assert 0.8 <= metrics.coverage <= 0.97
    assert metrics.mae < 0.15


def test_restored_head_predicts_identically():
    """Identical up to floating-point rounding of the rebuilt caches."""
    Z, y = synthetic(80, 5)
    data = HeadData(Z[:50], y[:50], Z[50:65], y[50:65], Z[65:], y[65:])
    gp, _ = fit_head(data, coverage=0.9, max_iter=50)
    restored = restore_head(data, gp.state_dict())
    Zt, _ = synthetic(15, 6)
    for a, b in zip(predictive(gp, Zt), predictive(restored, Zt), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_refit_starts_from_previous_hyperparameters():
    Z, y = synthetic(120, 7)
    data = HeadData(Z[:90], y[:90], Z[90:], y[90:], Z[:0], y[:0])
    first, _ = fit_head(data, coverage=0.9, max_iter=100)
    lengthscale = first.covar_module.base_kernel.lengthscale
    warm, _ = fit_head(data, coverage=0.9, max_iter=1, initial=first)
    cold, _ = fit_head(data, coverage=0.9, max_iter=1)

    def distance(gp) -> float:
        return float((gp.covar_module.base_kernel.lengthscale / lengthscale).log().abs().max())

    assert distance(warm) < 0.1 < distance(cold)
