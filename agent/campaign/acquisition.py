"""Choosing the oracle's next structures among scored candidates with BoTorch.

Candidates and labeled structures are points in a feature space ``X``, ``(n, d + k)`` float64:
the surrogate's ``d``-dimensional structure embedding, then the ``k`` computed quantities (e.g.
HHI). The BoTorch model is a ``ModelList`` whose outputs are the modelled (oracle) quantities —
calibrated GP heads that read the embedding columns — followed by one deterministic model per
computed quantity that reads its column.

With two or more objectives the acquisition function is qLogNEHVI (noisy expected hypervolume
improvement, log form); with one it is qLogNEI. Before the campaign has labels of its own (the
heads then learn from a prior dataset) there is no front yet: the hypervolume improvement is the
picks' hypervolume above the reference point, and the single-objective improvement is over the
objective's reference value (qLogEI). Constraints enter as BoTorch outcome constraints
(feasibility weighting). The ``q`` picks are chosen jointly and greedily over the discrete
candidate set with ``optimize_acqf_discrete`` (no candidate twice; near-duplicates were removed
before scoring).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models import ModelList
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model
from botorch.optim import optimize_acqf_discrete
from botorch.sampling.get_sampler import get_sampler

from agent.campaign.config import ConstraintConfig, ObjectiveConfig


def column_model(column: int) -> GenericDeterministicModel:
    """A deterministic model whose single output is column ``column`` of ``X``."""
    return GenericDeterministicModel(lambda X: X[..., column : column + 1], num_outputs=1)


def feature_model(gps: Sequence[Model], embedding_dim: int, num_computed: int) -> ModelList:
    """The model of the module docstring: ``gps`` then one column model per computed quantity."""
    return ModelList(*gps, *(column_model(embedding_dim + j) for j in range(num_computed)))


def acquisition_name(objectives: Sequence[ObjectiveConfig]) -> str:
    """The acquisition function :func:`select` uses for ``objectives``."""
    return "qLogNEHVI" if len(objectives) > 1 else "qLogNEI"


def outcome_constraints(
    constraints: Sequence[ConstraintConfig], outputs: Sequence[str]
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """BoTorch constraint callables (feasible where ``≤ 0``) on samples ``(..., q, m)``."""
    callables = []
    for constraint in constraints:
        index = outputs.index(constraint.name)
        if constraint.max is not None:
            callables.append(lambda Z, i=index, b=constraint.max: Z[..., i] - b)
        if constraint.min is not None:
            callables.append(lambda Z, i=index, b=constraint.min: b - Z[..., i])
    return callables


def select(
    model: Model,
    candidates: torch.Tensor,
    baseline: torch.Tensor,
    objectives: Sequence[ObjectiveConfig],
    constraints: Sequence[ConstraintConfig],
    outputs: Sequence[str],
    q: int,
    mc_samples: int = 128,
    seed: int = 0,
) -> tuple[list[int], list[float]]:
    """Indices of the ``q`` candidates to evaluate next (fewer if there are fewer candidates) and
    the acquisition value of each greedy step.

    Args:
        model: BoTorch model with outputs named ``outputs``.
        candidates: ``(n, D)`` features of the candidates.
        baseline: ``(m, D)`` features of the labeled structures (``m`` may be 0).
    """
    q = min(q, len(candidates))
    sampler = get_sampler(model.posterior(candidates[:1]), torch.Size([mc_samples]), seed=seed)
    signs = torch.tensor([o.sign for o in objectives], dtype=torch.double)
    indices = [outputs.index(o.name) for o in objectives]
    constraint_callables = outcome_constraints(constraints, outputs) or None
    if len(objectives) > 1:
        acquisition = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=(signs * torch.tensor([o.reference for o in objectives])).tolist(),
            X_baseline=baseline,
            sampler=sampler,
            objective=WeightedMCMultiOutputObjective(signs, outcomes=indices),
            constraints=constraint_callables,
            prune_baseline=len(baseline) > 0,
        )
    else:
        sign, index = float(signs[0]), indices[0]
        objective = GenericMCObjective(lambda Z, X=None: sign * Z[..., index])
        if len(baseline):
            acquisition = qLogNoisyExpectedImprovement(
                model=model,
                X_baseline=baseline,
                sampler=sampler,
                objective=objective,
                constraints=constraint_callables,
            )
        else:
            acquisition = qLogExpectedImprovement(
                model=model,
                best_f=sign * objectives[0].reference,
                sampler=sampler,
                objective=objective,
                constraints=constraint_callables,
            )
    chosen, values = optimize_acqf_discrete(acquisition, q=q, choices=candidates, unique=True)
    picked = [int(torch.nonzero((candidates == row).all(dim=-1))[0]) for row in chosen]
    return picked, values.flatten().tolist()
