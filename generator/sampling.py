"""Predictor–corrector sampling of the reverse diffusion.

Each of ``S`` steps goes from ``t_i`` to ``t_{i+1}`` on the uniform grid ``1 = t_0 > … > t_S = 0``:
``corrector_steps`` Langevin corrector steps at ``t_i`` for coordinates and lattice, then one
ancestral predictor step for all three components. Atom types use the D3PM reverse kernel from step
``⌈t_i T⌉`` to ``⌈t_{i+1} T⌉``. The last predictor step adds no noise.

Scores come from ``score_fn(state, t)``: the model itself by default; classifier-free guidance is a
``score_fn`` that combines conditional and unconditional evaluations with
:func:`generator.model.classifier_free_guidance`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from pymatgen.core import Structure

from generator.data.tensors import CrystalBatch
from generator.model import CrystalState, DiffusionModel, ScoreOutput


class SamplingError(RuntimeError):
    """The reverse process left the finite numbers: an undertrained model or too few steps."""


ScoreFn = Callable[[CrystalState, torch.Tensor], ScoreOutput]


@dataclass(frozen=True)
class SamplerConfig:
    """Attributes:
    num_steps: predictor steps ``S`` (MatterGen: 1000).
    corrector_steps: Langevin steps per predictor step (MatterGen: 1).
    coordinate_snr, lattice_snr: corrector signal-to-noise ratios (MatterGen: 0.4, 0.2).
    """

    num_steps: int = 1000
    corrector_steps: int = 1
    coordinate_snr: float = 0.4
    lattice_snr: float = 0.2


def checked(scores: ScoreOutput, t: torch.Tensor) -> ScoreOutput:
    """``scores``, or :class:`SamplingError` if any of them is not finite."""
    parts = (scores.coordinates, scores.lattice, scores.type_logits)
    if not all(torch.isfinite(part).all() for part in parts):
        raise SamplingError(
            f"sampling diverged at t = {float(t[0]):.3f} (non-finite scores); the model may be "
            "undertrained, or the step count too small"
        )
    return scores


@torch.no_grad()
def sample(
    model: DiffusionModel,
    num_atoms: torch.Tensor,
    config: SamplerConfig | None = None,
    score_fn: ScoreFn | None = None,
) -> CrystalBatch:
    """Generate one crystal per entry of ``num_atoms`` ``(B,)``.

    Returns:
        A :class:`CrystalBatch` with coordinates in [0, 1) and symmetric lattices (Å).
    """
    config = config or SamplerConfig()
    if score_fn is None:
        score_fn = model
    state = model.prior(num_atoms)
    grid = torch.linspace(1.0, 0.0, config.num_steps + 1, dtype=torch.float64)
    grid = grid.to(dtype=state.lattice.dtype, device=state.lattice.device)
    num_crystals = state.num_atoms.shape[0]
    for i in range(config.num_steps):
        t_now, t_next = grid[i].expand(num_crystals), grid[i + 1].expand(num_crystals)
        for _ in range(config.corrector_steps):
            state = _corrector_step(
                model, state, checked(score_fn(state, t_now), t_now), t_now, t_next, config
            )
        last = i == config.num_steps - 1
        state = _predictor_step(
            model, state, checked(score_fn(state, t_now), t_now), t_now, t_next, last
        )
    return state.to_batch()


def _corrector_step(
    model: DiffusionModel,
    state: CrystalState,
    scores: ScoreOutput,
    t_now: torch.Tensor,
    t_next: torch.Tensor,
    config: SamplerConfig,
) -> CrystalState:
    """Langevin step at ``t_now`` for coordinates and lattice; types are left alone."""
    cfg = model.config
    return replace(
        state,
        frac_coords=cfg.coordinates.corrector_step(
            state.frac_coords,
            scores.coordinates,
            config.coordinate_snr,
            state.batch,
            state.num_atoms.shape[0],
        ),
        lattice=cfg.lattice.corrector_step(
            state.lattice, scores.lattice, config.lattice_snr, t_now, t_next
        ),
    )


def _predictor_step(
    model: DiffusionModel,
    state: CrystalState,
    scores: ScoreOutput,
    t_now: torch.Tensor,
    t_next: torch.Tensor,
    last: bool,
) -> CrystalState:
    """Ancestral step of all three components from ``t_now`` to ``t_next``."""
    cfg = model.config
    atom_now, atom_next = t_now[state.batch], t_next[state.batch]
    atom_count = state.num_atoms[state.batch]
    return replace(
        state,
        tokens=cfg.atom_types.reverse_step(
            state.tokens,
            scores.type_logits,
            cfg.atom_types.discrete_step(atom_now),
            cfg.atom_types.discrete_step(atom_next),
        ),
        frac_coords=cfg.coordinates.predictor_step(
            state.frac_coords,
            scores.coordinates,
            cfg.coordinates.sigma(atom_now, atom_count),
            cfg.coordinates.sigma(atom_next, atom_count),
            add_noise=not last,
        ),
        lattice=cfg.lattice.predictor_step(
            state.lattice, scores.lattice, t_now, t_next, state.num_atoms, add_noise=not last
        ),
    )


def sample_structures(
    model: DiffusionModel,
    num_atoms: torch.Tensor,
    config: SamplerConfig | None = None,
    score_fn: ScoreFn | None = None,
) -> list[Structure]:
    """:func:`sample`, returned as pymatgen Structures."""
    return sample(model, num_atoms, config, score_fn).to_structures()
