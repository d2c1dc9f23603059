"""A calibrated Gaussian-process head on structure embeddings, one GP per target.

The GP is a BoTorch ``SingleTaskGP`` on the ``d`` embedding columns of the feature tensor
(a ``FilterFeatures`` input transform drops the columns after them, so the GP accepts the
``(..., n, d + k)`` features that every output of the surrogate shares), with normalized
inputs, standardized outcomes and a scaled RBF kernel with BoTorch's dimension-scaled prior.

Calibration: hyperparameters are fitted on one part of the labels (at most a fixed number, so that
a refit stays cheap as labels accumulate; a refit may start from the previous hyperparameters);
on a held-out part the
standardized absolute errors ``|y - μ| / σ`` of the predictive distribution set a scale ``s``
such that the central ``coverage`` interval ``μ ± z σ s`` covers that fraction of the held-out
labels. Multiplying the kernel's output scale and the noise variance by ``s²`` leaves the
posterior mean unchanged and multiplies the posterior variance by ``s²``, so the calibrated GP is
still an ordinary GP. The held-out and any remaining labels are then added to its data (same
hyperparameters), so the posterior conditions on every label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import ChainedInputTransform, FilterFeatures, Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch.distributions import Normal


def gp_inputs(embeddings: torch.Tensor) -> torch.Tensor:
    """``(n, d + 1)`` GP training inputs: the embeddings and a zero column after them, which the
    GP's ``FilterFeatures`` transform drops (as it drops every column after the embedding)."""
    return torch.cat([embeddings, embeddings.new_zeros(len(embeddings), 1)], dim=-1)


def build_gp(embeddings: torch.Tensor, y: torch.Tensor) -> SingleTaskGP:
    """An unfitted GP on ``(n, d)`` embeddings and ``(n,)`` labels."""
    d = embeddings.shape[-1]
    return SingleTaskGP(
        gp_inputs(embeddings),
        y.unsqueeze(-1),
        covar_module=ScaleKernel(get_covar_module_with_dim_scaled_prior(ard_num_dims=d)),
        input_transform=ChainedInputTransform(
            embedding=FilterFeatures(torch.arange(d)), normalize=Normalize(d)
        ),
        outcome_transform=Standardize(m=1),
    )


def interval_scale(
    mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor, coverage: float
) -> float:
    """The factor ``s`` by which ``std`` must grow for ``μ ± z σ s`` to cover ``coverage`` of
    ``y`` (all ``(n,)``); ``z`` is the standard normal quantile of the central interval."""
    z = Normal(0.0, 1.0).icdf(torch.tensor((1 + coverage) / 2, dtype=torch.double))
    errors = ((y - mean).abs() / std).double()
    return float(torch.quantile(errors, coverage) / z)


def scale_variance(gp: SingleTaskGP, scale: float) -> None:
    """Multiply ``gp``'s posterior standard deviation by ``scale`` (mean unchanged); leaves
    ``gp`` in eval mode with its prediction caches cleared."""
    gp.train()
    with torch.no_grad():
        gp.covar_module.outputscale = gp.covar_module.outputscale * scale**2
        gp.likelihood.noise = gp.likelihood.noise * scale**2
    gp.eval()


def predictive(gp: SingleTaskGP, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n,)`` predictive mean and standard deviation (noise included) at ``(n, d)``."""
    with torch.no_grad():
        posterior = gp.posterior(gp_inputs(embeddings), observation_noise=True)
        return posterior.mean.squeeze(-1), posterior.variance.sqrt().squeeze(-1)


@dataclass
class HeadData:
    """The labels of one target, split for fitting and calibration.

    Attributes:
        fit_embeddings: ``(n_fit, d)``; hyperparameters are fitted on these.
        fit_y: ``(n_fit,)`` labels.
        cal_embeddings: ``(n_cal, d)``; held out to calibrate, then added to the GP's data.
        cal_y: ``(n_cal,)`` labels.
        rest_embeddings: ``(n_rest, d)``; added to the GP's data after calibration.
        rest_y: ``(n_rest,)`` labels.
    """

    fit_embeddings: torch.Tensor
    fit_y: torch.Tensor
    cal_embeddings: torch.Tensor
    cal_y: torch.Tensor
    rest_embeddings: torch.Tensor
    rest_y: torch.Tensor


def fit_head(
    data: HeadData, coverage: float, max_iter: int, initial: SingleTaskGP | None = None
) -> tuple[SingleTaskGP, float]:
    """Fit (at most ``max_iter`` L-BFGS-B steps, starting from the kernel, noise and mean of
    ``initial`` when given), calibrate and complete a GP; returns it (in eval mode) and the
    scale ``s``."""
    gp = build_gp(data.fit_embeddings, data.fit_y)
    if initial is not None:
        for name in ("covar_module", "likelihood", "mean_module"):
            getattr(gp, name).load_state_dict(getattr(initial, name).state_dict())
    fit_gpytorch_mll(
        ExactMarginalLogLikelihood(gp.likelihood, gp),
        optimizer_kwargs={"options": {"maxiter": max_iter}},
    )
    gp.eval()
    mean, std = predictive(gp, data.cal_embeddings)
    scale = interval_scale(mean, std, data.cal_y, coverage)
    scale_variance(gp, scale)
    return complete(gp, data), scale


def restore_head(data: HeadData, state: dict[str, torch.Tensor]) -> SingleTaskGP:
    """The GP that :func:`fit_head` returned, from its data and ``state_dict`` (before the
    held-out labels were added)."""
    gp = build_gp(data.fit_embeddings, data.fit_y)
    gp.load_state_dict(state)
    gp.eval()
    return complete(gp, data)


def complete(gp: SingleTaskGP, data: HeadData) -> SingleTaskGP:
    """``gp`` conditioned on the held-out and remaining labels, hyperparameters kept."""
    predictive(gp, data.cal_embeddings)  # builds the prediction caches conditioning needs
    completed = gp.condition_on_observations(
        gp_inputs(torch.cat([data.cal_embeddings, data.rest_embeddings])),
        torch.cat([data.cal_y, data.rest_y]).unsqueeze(-1),
    )
    completed.eval()
    return completed
