"""BoTorch picks over a discrete candidate set, on GP heads of the surrogate's kind."""

from __future__ import annotations

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelList
from gpytorch.mlls import ExactMarginalLogLikelihood

from matterloop.agent.campaign.acquisition import select
from matterloop.agent.campaign.config import ConstraintConfig, ObjectiveConfig
from matterloop.surrogates.columns import column_model
from matterloop.surrogates.head import build_gp

D = 4
OBJECTIVES = (
    ObjectiveConfig(name="magnetic_density", direction="maximize", reference=0.0),
    ObjectiveConfig(name="hhi_production", direction="minimize", reference=10000),
)
OUTPUTS = ["magnetic_density", "e_above_hull", "hhi_production"]


def fitted_gp(embeddings, y):
    gp = build_gp(embeddings, y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
    return gp.eval()


def problem(seed=0):
    """Magnetic density rises with the first embedding coordinate, E_hull with the second;
    HHI is the computed last column."""
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.rand(40, D, generator=generator, dtype=torch.double)
    hhi = 1000 + 4000 * torch.rand(40, 1, generator=generator, dtype=torch.double)
    features = torch.cat([embeddings, hhi], dim=-1)
    labeled, candidates = features[:16], features[16:]
    gps = [
        fitted_gp(embeddings[:16], 0.2 * embeddings[:16, 0]),
        fitted_gp(embeddings[:16], 0.3 * embeddings[:16, 1]),
    ]
    return ModelList(*gps, column_model(D)), labeled, candidates


def test_picks_are_distinct_candidates_and_reproducible():
    model, labeled, candidates = problem()
    args = (model, candidates, labeled, OBJECTIVES, (), OUTPUTS, 4)
    picks, values = select(*args, mc_samples=64, seed=3)
    assert len(picks) == len(set(picks)) == 4
    assert all(0 <= p < len(candidates) for p in picks)
    assert len(values) == 4 and all(torch.isfinite(torch.tensor(values)))
    assert select(*args, mc_samples=64, seed=3)[0] == picks


def test_a_binding_constraint_steers_the_picks():
    model, labeled, candidates = problem()
    stable = (ConstraintConfig(name="e_above_hull", max=0.05),)  # E_hull = 0.3 * x₂
    free, _ = select(model, candidates, labeled, OBJECTIVES, (), OUTPUTS, 3, 64, 0)
    constrained, _ = select(model, candidates, labeled, OBJECTIVES, stable, OUTPUTS, 3, 64, 0)
    x2 = candidates[:, 1]
    assert x2[constrained].mean() < x2[free].mean()
    assert (0.3 * x2[constrained] <= 0.1).all()


def test_single_objective_uses_noisy_expected_improvement():
    model, labeled, candidates = problem()
    (best,), _ = select(model, candidates, labeled, OBJECTIVES[:1], (), OUTPUTS, 1, 64, 0)
    assert candidates[best, 0] >= torch.quantile(candidates[:, 0], 0.75)


def test_without_labels_of_its_own_the_picks_follow_the_prior_heads():
    """Heads fitted on a prior dataset and no campaign label yet: the improvement is measured
    from the reference point, so the picks are the candidates predicted to be best."""
    model, _, candidates = problem()
    none = candidates[:0]
    picks, values = select(model, candidates, none, OBJECTIVES, (), OUTPUTS, 3, 64, 0)
    assert len(set(picks)) == 3 and all(torch.isfinite(torch.tensor(values)))
    magnetic, hhi = 0.2 * candidates[:, 0], candidates[:, -1]
    area = magnetic * (10000 - hhi)  # each candidate's own hypervolume above the reference
    assert area[picks].mean() > torch.quantile(area, 0.6)
    (best,), _ = select(model, candidates, none, OBJECTIVES[:1], (), OUTPUTS, 1, 64, 0)
    assert candidates[best, 0] >= torch.quantile(candidates[:, 0], 0.75)
