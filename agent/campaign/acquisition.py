"""Choosing the oracle's next structures among scored candidates with BoTorch.

Candidates and labeled structures are points in a feature space ``X``, ``(n, d + k)`` float64:
the surrogate's ``d``-dimensional structure embedding, then the ``k`` computed quantities (e.g.
HHI). The BoTorch model is the surrogate's ``ModelList``
(:attr:`matterloop.surrogates.surrogate.Surrogate.model`) whose outputs are the modelled (oracle)
quantities — calibrated GP heads that read the embedding columns — followed by one deterministic
model per computed quantity that reads its column.

With two or more objectives the acquisition function is qLogNEHVI (noisy expected hypervolume
improvement, log form); with one it is qLogNEI. Before the campaign has labels of its own (the
heads then learn from a prior dataset) there is no front yet: the hypervolume improvement is the
picks' hypervolume above the reference point, and the single-objective improvement is over the
objective's reference value (qLogEI). Constraints enter as BoTorch outcome constraints
(feasibility weighting). The ``q`` picks are chosen jointly and greedily over the discrete
candidate set with ``optimize_acqf_discrete`` (no candidate twice; near-duplicates were removed
before scoring).

A quantity may be the sum of two outputs (``offsets``): in a two-fidelity campaign the oracle's
value is the screen's value (a deterministic column) plus a GP's prediction of the difference
(:mod:`matterloop.agent.campaign.fidelity`). With ``log_costs`` the greedy steps are cost-aware:
each picks the candidate of the largest acquisition value per unit cost (``log α − log c``, the
inverse cost weighting of BoTorch's ``InverseCostWeightedUtility``), the earlier picks pending.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import qLogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import GenericMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.models.model import Model
from botorch.optim import optimize_acqf_discrete
from botorch.sampling.get_sampler import get_sampler

from matterloop.agent.campaign.config import ConstraintConfig, ObjectiveConfig


def acquisition_name(objectives: Sequence[ObjectiveConfig]) -> str:
    """The acquisition function :func:`select` uses for ``objectives``."""
    return "qLogNEHVI" if len(objectives) > 1 else "qLogNEI"


def output_columns(
    name: str, outputs: Sequence[str], offsets: Mapping[str, str] | None = None
) -> list[int]:
    """The outputs whose sum is quantity ``name``: its own and its offset's, where present."""
    names = (name, (offsets or {}).get(name))
    columns = [outputs.index(n) for n in names if n is not None and n in outputs]
    if not columns:
        raise ValueError(f"no model output for {name}; outputs: {', '.join(outputs)}")
    return columns


def outcome_constraints(
    constraints: Sequence[ConstraintConfig],
    outputs: Sequence[str],
    offsets: Mapping[str, str] | None = None,
) -> list[Callable[[torch.Tensor], torch.Tensor]]:
    """BoTorch constraint callables (feasible where ``≤ 0``) on samples ``(..., q, m)``."""
    callables = []
    for constraint in constraints:
        columns = output_columns(constraint.name, outputs, offsets)
        if constraint.max is not None:
            callables.append(lambda Z, c=columns, b=constraint.max: Z[..., c].sum(-1) - b)
        if constraint.min is not None:
            callables.append(lambda Z, c=columns, b=constraint.min: b - Z[..., c].sum(-1))
    return callables


def greedy_cost_weighted(
    acquisition: AcquisitionFunction, candidates: torch.Tensor, q: int, log_costs: torch.Tensor
) -> list[int]:
    """``q`` distinct rows of ``candidates`` ``(n, D)``, each step the largest
    ``log α(x | earlier picks pending) − log_costs`` (``(n,)``, log CPU-seconds)."""
    chosen: list[int] = []
    for _ in range(q):
        acquisition.set_X_pending(candidates[chosen] if chosen else None)
        with torch.no_grad():
            utility = acquisition(candidates.unsqueeze(-2)) - log_costs
        utility[chosen] = -torch.inf
        chosen.append(int(torch.argmax(utility)))
    acquisition.set_X_pending(None)
    return chosen


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
    offsets: Mapping[str, str] | None = None,
    log_costs: torch.Tensor | None = None,
) -> tuple[list[int], list[float]]:
    """Indices of the ``q`` candidates to evaluate next (fewer if there are fewer candidates) and
    the acquisition value of each greedy step (empty when cost-aware).

    Args:
        model: BoTorch model with outputs named ``outputs``.
        candidates: ``(n, D)`` features of the candidates.
        baseline: ``(m, D)`` features of the labeled structures (``m`` may be 0).
        offsets: quantity -> the output added to its own (see the module docstring).
        log_costs: ``(n,)`` log of each candidate's cost, for cost-aware picks.
    """
    q = min(q, len(candidates))
    sampler = get_sampler(model.posterior(candidates[:1]), torch.Size([mc_samples]), seed=seed)
    signs = [o.sign for o in objectives]
    columns = [output_columns(o.name, outputs, offsets) for o in objectives]
    constraint_callables = outcome_constraints(constraints, outputs, offsets) or None
    if len(objectives) > 1:
        acquisition = qLogNoisyExpectedHypervolumeImprovement(
            model=model,
            ref_point=[sign * o.reference for sign, o in zip(signs, objectives, strict=True)],
            X_baseline=baseline,
            sampler=sampler,
            objective=GenericMCMultiOutputObjective(
                lambda Z, X=None: torch.stack(
                    [s * Z[..., c].sum(-1) for s, c in zip(signs, columns, strict=True)], dim=-1
                )
            ),
            constraints=constraint_callables,
            prune_baseline=len(baseline) > 0,
        )
    else:
        sign, column = signs[0], columns[0]
        objective = GenericMCObjective(lambda Z, X=None: sign * Z[..., column].sum(-1))
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
    if log_costs is not None:
        return greedy_cost_weighted(acquisition, candidates, q, log_costs), []
    chosen, values = optimize_acqf_discrete(acquisition, q=q, choices=candidates, unique=True)
    picked = [int(torch.nonzero((candidates == row).all(dim=-1))[0]) for row in chosen]
    return picked, values.flatten().tolist()
