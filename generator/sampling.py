"""Predictor–corrector sampling of the reverse diffusion.

Each of ``S`` steps goes from ``t_i`` to ``t_{i+1}`` on the uniform grid ``1 = t_0 > … > t_S = 0``:
``corrector_steps`` Langevin corrector steps at ``t_i`` for coordinates and lattice, then one
ancestral predictor step for all three components. Atom types use the D3PM reverse kernel from step
``⌈t_i T⌉`` to ``⌈t_{i+1} T⌉``. The last predictor step adds no noise.

The lattice process ends noise-free at ``t = 0``, but the coordinate process stops at
``σ(0) = σ_min N^(-1/3)``: about 0.05 Å of random displacement, enough to break the symmetry of
most crystals at symprec 0.1 Å. ``denoising_steps`` Tweedie steps ``x ← x + σ(0)² s(x)`` at the
smallest training time remove it.

Scores come from ``score_fn(state, t)``: the model itself by default; classifier-free guidance is a
``score_fn`` that combines conditional and unconditional evaluations with
:func:`matterloop.generator.model.classifier_free_guidance`.

A crystal whose scores or state stop being finite, or whose final cell is degenerate, is frozen
and left out of the result while the rest of its batch goes on; only a batch in which every
crystal diverged is an error. A cell that passes through a (near) singular matrix on the way is
not dropped: in the noisy part of the reverse process an eigenvalue of the symmetric lattice can
cross zero and come back, and the network only sees the cell's Gram matrix, which stays finite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import torch
from pymatgen.core import Structure

from matterloop.data.tensors import CrystalBatch
from matterloop.generator.diffusion.atom_types import MAX_Z
from matterloop.generator.diffusion.coordinates import wrap
from matterloop.generator.diffusion.scatter import crystal_sum
from matterloop.generator.model import CrystalState, DiffusionModel, ScoreOutput


class SamplingError(RuntimeError):
    """Every crystal of a batch left the finite numbers: an undertrained model or too few steps."""


ScoreFn = Callable[[CrystalState, torch.Tensor], ScoreOutput]


class Projection(Protocol):
    """Applied to the state after every step, e.g. to keep it in a space group."""

    coordinate_noise_scale: torch.Tensor
    """``(n, 1)`` multiplier of each atom's coordinate noise: a projection that averages the
    noise of ``k`` atoms shrinks it by ``√k``, which this undoes."""

    def __call__(self, state: CrystalState) -> CrystalState: ...


@dataclass(frozen=True)
class SamplerConfig:
    """Attributes:
    num_steps: predictor steps ``S`` (MatterGen: 1000).
    corrector_steps: Langevin steps per predictor step (MatterGen: 1).
    coordinate_snr, lattice_snr: corrector signal-to-noise ratios (MatterGen: 0.4, 0.2; see
        :func:`~matterloop.generator.diffusion.langevin.langevin_step_size`). On the 19,000-step
        model at 100 steps (256 samples) 0.4 gave 98.0% structurally valid crystals against 93.4% at
        0.2.
    min_volume_per_atom: Å³; a crystal whose final cell volume per atom is below this is dropped
        as degenerate (the data have ~10-30 Å³ per atom). Checked at the end only: checked at
        every step, it dropped 9 of 64 crystals at 1000 steps, all in the noisy phase
        (t = 0.5-0.85) where a lattice eigenvalue crossed zero.
    type_temperature: divides the type logits when an atom's type is drawn (1: the model's own
        reverse kernel, as in MatterGen). The default 0.7 was measured on the 19,000-step
        model (100 steps, 128 samples; see ``bench/RESULTS.md``): charge-balanced (SMACT) 82%
        at 1.0, 84% at 0.7, 70% at 0.5 (256 samples); the Wasserstein distance of the element
        count per cell to MP-20's is 1.26, 0.60 and 0.71.
    denoising_steps: final Tweedie steps on the coordinates (see the module docstring); 0 leaves
        the σ(0) noise in. With the shipped model (``python -m bench.symmetry``), on 64 MP-20
        test crystals noised to σ(0), the share whose space group (symprec 0.1) survived was
        12%, 56%, 64% and 58% after 0, 1, 3 and 10 steps; of 64 samples (100 steps) 86%, 77%,
        73% and 72% were in P1, with structural and SMACT validity unchanged.
    elements: atomic numbers the atom types are restricted to (e.g. ``(3, 27, 8)`` for
        Li-Co-O): every other element's logit is −∞ whenever a type is drawn, so each crystal's
        elements are a subset of these. None: any element.
    """

    num_steps: int = 1000
    corrector_steps: int = 1
    coordinate_snr: float = 0.4
    lattice_snr: float = 0.2
    min_volume_per_atom: float = 0.1
    type_temperature: float = 0.7
    elements: tuple[int, ...] | None = None
    denoising_steps: int = 3


@dataclass
class SampledBatch:
    """The crystals of a batch that finished.

    Attributes:
        crystals: the finished crystals, coordinates in [0, 1), symmetric lattices (Å).
        kept: ``(B_kept,)`` long, index of each finished crystal in the requested batch.
        num_requested: ``B``, the size of the requested batch.
    """

    crystals: CrystalBatch
    kept: torch.Tensor
    num_requested: int

    @property
    def num_dropped(self) -> int:
        """Crystals that diverged and were left out."""
        return self.num_requested - int(self.kept.shape[0])


@dataclass
class GenerationResult:
    """Generated structures and the number of crystals that diverged and were left out."""

    structures: list[Structure]
    num_dropped: int


def _finite_rows(values: torch.Tensor, index: torch.Tensor, num_crystals: int) -> torch.Tensor:
    """``(B,)`` bool: True for crystals all of whose rows of ``values`` ``(m, ...)`` are finite;
    ``index`` ``(m,)`` is the crystal of each row."""
    bad = (~torch.isfinite(values)).reshape(values.shape[0], -1).any(-1).long()
    return crystal_sum(bad, index, num_crystals) == 0


def _finite_scores(scores: ScoreOutput, state: CrystalState) -> torch.Tensor:
    """``(B,)`` bool: True for crystals whose three scores are finite."""
    num_crystals = state.num_atoms.shape[0]
    crystals = torch.arange(num_crystals, device=state.batch.device)
    return (
        _finite_rows(scores.coordinates, state.batch, num_crystals)
        & _finite_rows(scores.type_logits, state.batch, num_crystals)
        & _finite_rows(scores.lattice, crystals, num_crystals)
    )


def _healthy(state: CrystalState, min_volume_per_atom: float) -> torch.Tensor:
    """``(B,)`` bool: finite coordinates and lattice, and a cell of at least
    ``min_volume_per_atom`` Å³ per atom."""
    num_crystals = state.num_atoms.shape[0]
    crystals = torch.arange(num_crystals, device=state.batch.device)
    finite = _finite_rows(state.frac_coords, state.batch, num_crystals) & _finite_rows(
        state.lattice, crystals, num_crystals
    )
    volume = torch.linalg.det(torch.where(finite.reshape(-1, 1, 1), state.lattice, 0.0)).abs()
    return finite & (volume >= min_volume_per_atom * state.num_atoms.to(volume.dtype))


def _screened(
    scores: ScoreOutput, state: CrystalState, alive: torch.Tensor
) -> tuple[ScoreOutput, torch.Tensor]:
    """Drops crystals with non-finite scores from ``alive`` ``(B,)`` and zeroes their scores, so
    that they cannot poison a step; returns the scores and the updated ``alive``."""
    alive = alive & _finite_scores(scores, state)
    atom_alive = alive[state.batch].unsqueeze(-1)
    screened = ScoreOutput(
        coordinates=torch.where(atom_alive, scores.coordinates, 0.0),
        lattice=torch.where(alive.reshape(-1, 1, 1), scores.lattice, 0.0),
        type_logits=torch.where(atom_alive, scores.type_logits, 0.0),
    )
    return screened, alive


def _accepted(
    old: CrystalState,
    proposal: CrystalState,
    alive: torch.Tensor,
    config: SamplerConfig,
    t: torch.Tensor,
    last: bool = False,
) -> tuple[CrystalState, torch.Tensor]:
    """The step to ``proposal`` for healthy crystals still alive; the others are frozen at ``old``
    and dropped from ``alive``. The cell volume is checked on the ``last`` step only. Raises
    :class:`SamplingError` when none is left."""
    alive = alive & _healthy(proposal, config.min_volume_per_atom if last else 0.0)
    if not bool(alive.any()):
        raise SamplingError(
            f"all {alive.shape[0]} crystals diverged by t = {float(t[0]):.3f} (non-finite scores "
            "or a collapsed cell); the model may be undertrained, or the step count too small"
        )
    return _keep(alive, proposal, old), alive


def _keep(alive: torch.Tensor, new: CrystalState, old: CrystalState) -> CrystalState:
    """``new`` for crystals still alive, ``old`` (frozen) for dropped ones."""
    atom_alive = alive[old.batch]
    return replace(
        old,
        tokens=torch.where(atom_alive, new.tokens, old.tokens),
        frac_coords=torch.where(atom_alive.unsqueeze(-1), new.frac_coords, old.frac_coords),
        lattice=torch.where(alive.reshape(-1, 1, 1), new.lattice, old.lattice),
    )


def _select(state: CrystalState, kept: torch.Tensor) -> CrystalState:
    """The crystals ``kept`` ``(B_kept,)`` of ``state``, renumbered."""
    num_atoms = state.num_atoms[kept]
    atoms = torch.isin(state.batch, kept)
    return CrystalState(
        tokens=state.tokens[atoms],
        frac_coords=state.frac_coords[atoms],
        lattice=state.lattice[kept],
        num_atoms=num_atoms,
        batch=torch.repeat_interleave(torch.arange(kept.shape[0], device=kept.device), num_atoms),
    )


@torch.no_grad()
def sample(
    model: DiffusionModel,
    num_atoms: torch.Tensor,
    config: SamplerConfig | None = None,
    score_fn: ScoreFn | None = None,
    projection: Projection | None = None,
) -> SampledBatch:
    """Generate one crystal per entry of ``num_atoms`` ``(B,)``; ``projection``, if given, is
    applied to the prior draw and after every step.

    A crystal whose scores or state stop being finite, or whose final cell is degenerate (see
    :attr:`SamplerConfig.min_volume_per_atom`), is frozen and left out of the result; the others
    continue unaffected (every random draw keeps the batch's layout, so they are the crystals
    the same seed gives without the failure).

    Raises:
        SamplingError: when every crystal of the batch diverged.
    """
    config = config or SamplerConfig()
    if score_fn is None:
        score_fn = model

    def project(state: CrystalState) -> CrystalState:
        return projection(state) if projection else state

    noise_scale = projection.coordinate_noise_scale if projection else 1.0
    state = project(model.prior(num_atoms))
    grid = torch.linspace(1.0, 0.0, config.num_steps + 1, dtype=torch.float64)
    grid = grid.to(dtype=state.lattice.dtype, device=state.lattice.device)
    num_crystals = state.num_atoms.shape[0]
    alive = torch.ones(num_crystals, dtype=torch.bool, device=state.batch.device)
    forbidden_types = None
    if config.elements is not None:
        forbidden_types = torch.ones(MAX_Z, dtype=torch.bool, device=state.batch.device)
        forbidden_types[[z - 1 for z in config.elements]] = False

    for i in range(config.num_steps):
        t_now, t_next = grid[i].expand(num_crystals), grid[i + 1].expand(num_crystals)
        for _ in range(config.corrector_steps):
            scores, alive = _screened(score_fn(state, t_now), state, alive)
            proposal = _corrector_step(model, state, scores, t_now, t_next, config, noise_scale)
            state, alive = _accepted(state, proposal, alive, config, t_now)
            state = project(state)
        last = i == config.num_steps - 1
        scores, alive = _screened(score_fn(state, t_now), state, alive)
        proposal = _predictor_step(
            model, state, scores, t_now, t_next, last, config, forbidden_types, noise_scale
        )
        state, alive = _accepted(state, proposal, alive, config, t_now, last)
        state = project(state)
    t_min = torch.full_like(grid[:1], model.config.min_time).expand(num_crystals)
    for _ in range(config.denoising_steps):
        scores, alive = _screened(score_fn(state, t_min), state, alive)
        proposal = denoising_step(model, state, scores, t_min)
        state, alive = _accepted(state, proposal, alive, config, t_min, last=True)
        state = project(state)
    kept = torch.nonzero(alive).squeeze(-1)
    return SampledBatch(_select(state, kept).to_batch(), kept, num_crystals)


def _corrector_step(
    model: DiffusionModel,
    state: CrystalState,
    scores: ScoreOutput,
    t_now: torch.Tensor,
    t_next: torch.Tensor,
    config: SamplerConfig,
    noise_scale: torch.Tensor | float,
) -> CrystalState:
    """Langevin step at ``t_now`` for coordinates and lattice; types are left alone;
    ``noise_scale`` multiplies the coordinate noise (see :class:`Projection`)."""
    cfg = model.config
    return replace(
        state,
        frac_coords=cfg.coordinates.corrector_step(
            state.frac_coords,
            scores.coordinates,
            config.coordinate_snr,
            state.batch,
            cfg.coordinates.sigma(t_now, state.num_atoms).squeeze(-1),
            noise_scale,
        ),
        lattice=cfg.lattice.corrector_step(
            state.lattice, scores.lattice, config.lattice_snr, t_now, t_next, state.num_atoms
        ),
    )


def denoising_step(
    model: DiffusionModel, state: CrystalState, scores: ScoreOutput, t: torch.Tensor
) -> CrystalState:
    """Tweedie estimate ``x + σ(t)² s(x)`` of the clean coordinates at ``t`` ``(B,)``."""
    coordinates = model.config.coordinates
    sigma = coordinates.sigma(t[state.batch], state.num_atoms[state.batch])
    return replace(state, frac_coords=wrap(state.frac_coords + sigma**2 * scores.coordinates))


def _predictor_step(
    model: DiffusionModel,
    state: CrystalState,
    scores: ScoreOutput,
    t_now: torch.Tensor,
    t_next: torch.Tensor,
    last: bool,
    config: SamplerConfig,
    forbidden_types: torch.Tensor | None,
    noise_scale: torch.Tensor | float,
) -> CrystalState:
    """Ancestral step of all three components from ``t_now`` to ``t_next``; element tokens where
    ``forbidden_types`` ``(MAX_Z,)`` is True are never drawn; ``noise_scale`` multiplies the
    coordinate noise (see :class:`Projection`)."""
    cfg = model.config
    type_logits = scores.type_logits
    if forbidden_types is not None:
        type_logits = type_logits.masked_fill(forbidden_types, float("-inf"))
    atom_now, atom_next = t_now[state.batch], t_next[state.batch]
    atom_count = state.num_atoms[state.batch]
    return replace(
        state,
        tokens=cfg.atom_types.reverse_step(
            state.tokens,
            type_logits,
            cfg.atom_types.discrete_step(atom_now),
            cfg.atom_types.discrete_step(atom_next),
            config.type_temperature,
        ),
        frac_coords=cfg.coordinates.predictor_step(
            state.frac_coords,
            scores.coordinates,
            cfg.coordinates.sigma(atom_now, atom_count),
            cfg.coordinates.sigma(atom_next, atom_count),
            add_noise=not last,
            noise_scale=noise_scale,
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
) -> GenerationResult:
    """:func:`sample`, the finished crystals returned as pymatgen Structures."""
    sampled = sample(model, num_atoms, config, score_fn)
    return GenerationResult(sampled.crystals.to_structures(), sampled.num_dropped)
