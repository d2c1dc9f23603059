"""Predictor-corrector sampling."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from pymatgen.core import Structure

from matterloop.data.tensors import structure_to_tensors
from matterloop.generator.diffusion.atom_types import MAX_Z, atomic_numbers_to_tokens
from matterloop.generator.diffusion.coordinates import wrapped_normal_score
from matterloop.generator.diffusion.lattice import symmetrize_lattice
from matterloop.generator.model import (
    CrystalState,
    DiffusionModel,
    DiffusionModelConfig,
    ScoreOutput,
)
from matterloop.generator.network import ScoreNetworkConfig
from matterloop.generator.sampling import (
    SamplerConfig,
    SamplingError,
    _accepted,
    sample,
    sample_structures,
)

SMALL = DiffusionModelConfig(
    network=ScoreNetworkConfig(hidden_dim=32, num_blocks=2, num_frequencies=4)
)


def test_samples_are_well_formed_structures() -> None:
    torch.manual_seed(0)
    model = DiffusionModel(SMALL)
    num_atoms = torch.tensor([1, 3, 7, 20])
    sampled = sample(model, num_atoms, SamplerConfig(num_steps=8))
    assert sampled.num_dropped == 0 and torch.equal(sampled.kept, torch.arange(4))
    batch = sampled.crystals
    assert torch.equal(batch.num_atoms, num_atoms)
    assert batch.atomic_numbers.shape == (31,)
    assert bool(((batch.atomic_numbers >= 1) & (batch.atomic_numbers <= MAX_Z)).all())
    assert bool(((batch.frac_coords >= 0) & (batch.frac_coords < 1)).all())
    assert bool(torch.isfinite(batch.lattice).all())
    assert torch.allclose(batch.lattice, batch.lattice.transpose(-1, -2))
    result = sample_structures(model, torch.tensor([2, 5]), SamplerConfig(num_steps=3))
    assert [len(s) for s in result.structures] == [2, 5] and result.num_dropped == 0
    assert all(isinstance(s, Structure) for s in result.structures)


def test_restricted_elements_are_the_only_ones_drawn() -> None:
    torch.manual_seed(1)
    model = DiffusionModel(SMALL)
    num_atoms = torch.tensor([4, 9, 16])
    free = sample(model, num_atoms, SamplerConfig(num_steps=6)).crystals.atomic_numbers
    assert len(set(free.tolist())) > 3  # an untrained model draws from all elements
    li_co_o = (3, 27, 8)
    restricted = sample(model, num_atoms, SamplerConfig(num_steps=6, elements=li_co_o))
    assert restricted.num_dropped == 0
    assert set(restricted.crystals.atomic_numbers.tolist()) <= set(li_co_o)


def test_exact_scores_recover_the_data_point(small_structures: list[Structure]) -> None:
    """With the exact scores of a one-crystal data set, sampling must return that crystal."""
    torch.manual_seed(0)
    model = DiffusionModel(SMALL).double()
    cfg = model.config
    copies = 6
    crystal = structure_to_tensors(small_structures[0], dtype=torch.float64)  # NaCl, 2 atoms
    x0 = crystal.frac_coords.repeat(copies, 1)
    lattice0 = symmetrize_lattice(crystal.lattice).expand(copies, 3, 3)
    tokens0 = atomic_numbers_to_tokens(crystal.atomic_numbers).repeat(copies)

    def exact_scores(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
        sigma = cfg.coordinates.sigma(t[state.batch], state.num_atoms[state.batch])
        mean = cfg.lattice.marginal_mean(lattice0, t, state.num_atoms)
        return ScoreOutput(
            coordinates=wrapped_normal_score(state.frac_coords - x0, sigma),
            lattice=-(state.lattice - mean) / cfg.lattice.std(t, state.num_atoms) ** 2,
            type_logits=50.0 * torch.nn.functional.one_hot(tokens0, MAX_Z).double(),
        )

    def coordinate_error(denoising_steps: int) -> torch.Tensor:
        torch.manual_seed(0)
        config = SamplerConfig(num_steps=100, denoising_steps=denoising_steps)
        batch = sample(model, torch.full((copies,), 2), config, score_fn=exact_scores).crystals
        assert torch.equal(batch.atomic_numbers, crystal.atomic_numbers.repeat(copies))
        assert torch.allclose(batch.lattice, lattice0, atol=1e-6)
        error = batch.frac_coords - x0
        return (error - torch.round(error)).abs()

    # Without the final denoising step the reverse process stops at σ(0) = 0.01·2^(-1/3)...
    noisy = coordinate_error(denoising_steps=0)
    assert 1e-3 < noisy.mean().item() < 0.01 and noisy.max().item() < 0.04
    # ...and the Tweedie step of an exact score of one data point lands on it.
    assert coordinate_error(denoising_steps=1).max().item() < 1e-9


def failing_on(model: DiffusionModel, crystal: int, after_calls: int = 0):
    """The model's scores, with NaN coordinates scores for ``crystal`` from call ``after_calls``
    on; ``crystal=-1`` fails every crystal."""
    calls = 0

    def score_fn(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
        nonlocal calls
        calls += 1
        scores = model(state, t)
        if calls > after_calls:
            atoms = state.batch == crystal if crystal >= 0 else torch.ones_like(state.batch) > 0
            scores.coordinates[atoms] = float("nan")
        return scores

    return score_fn


@pytest.mark.parametrize("after_calls", [0, 5])
def test_a_diverging_crystal_is_dropped_and_the_others_are_unchanged(after_calls: int) -> None:
    """Predictor steps are per crystal, so the others are exactly the crystals the same seed gives
    without the failure (the corrector's step size is a batch average, see the next test)."""
    torch.manual_seed(0)
    model = DiffusionModel(SMALL)
    num_atoms = torch.tensor([2, 3, 4, 5])
    config = SamplerConfig(num_steps=6, corrector_steps=0)
    torch.manual_seed(1)
    reference = sample(model, num_atoms, config).crystals
    torch.manual_seed(1)
    sampled = sample(model, num_atoms, config, score_fn=failing_on(model, 1, after_calls))
    assert sampled.num_dropped == 1 and sampled.kept.tolist() == [0, 2, 3]
    crystals = sampled.crystals
    assert crystals.num_atoms.tolist() == [2, 4, 5]
    others = reference.batch != 1
    assert torch.equal(crystals.atomic_numbers, reference.atomic_numbers[others])
    assert torch.equal(crystals.frac_coords, reference.frac_coords[others])
    assert torch.equal(crystals.lattice, reference.lattice[[0, 2, 3]])


def test_a_collapsed_cell_is_dropped() -> None:
    """One noise-free predictor step with a lattice score that lands crystal 0 on a cube 100 times
    smaller than the prior's: its volume per atom is far below the threshold."""
    torch.manual_seed(0)
    model = DiffusionModel(SMALL)
    process = model.config.lattice

    def collapsing(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
        scores = model(state, t)
        mu = process.limit_mean(state.num_atoms, state.lattice.dtype)
        var = process.limit_variance(state.num_atoms, state.lattice.dtype)
        a = process.mean_coefficient(t).reshape(-1, 1, 1)  # the step ends at t = 0, a = 1
        target = -0.99 * mu * a - (state.lattice - mu)  # the step's mean becomes 0.01 mu
        scores.lattice[0] = (target / ((1 - a**2) * var))[0]
        return scores

    config = SamplerConfig(num_steps=1, corrector_steps=0)
    result = sample_structures(model, torch.tensor([2, 2]), config, collapsing)
    assert result.num_dropped == 1 and len(result.structures) == 1
    assert result.structures[0].volume > 0.1 * 2


def test_a_near_singular_cell_is_dropped_only_at_the_end() -> None:
    """In the noisy phase a lattice eigenvalue may cross zero and come back; only the final cell
    has to be non-degenerate."""
    torch.manual_seed(0)
    model = DiffusionModel(SMALL)
    state = model.prior(torch.tensor([2, 2]))
    flat = state.lattice.clone()
    flat[0, 2] = 0.0  # crystal 0: a row of zeros, volume 0
    proposal = replace(state, lattice=flat)
    alive = torch.ones(2, dtype=torch.bool)
    t = torch.full((2,), 0.6)
    config = SamplerConfig()
    during, alive_during = _accepted(state, proposal, alive, config, t, last=False)
    assert alive_during.tolist() == [True, True]
    assert torch.equal(during.lattice, flat)
    _, alive_at_end = _accepted(state, proposal, alive, config, t, last=True)
    assert alive_at_end.tolist() == [False, True]


def test_sampling_fails_only_when_every_crystal_diverged() -> None:
    model = DiffusionModel(SMALL)
    with pytest.raises(SamplingError, match="all 3 crystals diverged"):
        sample(model, torch.tensor([1, 2, 3]), SamplerConfig(num_steps=4), failing_on(model, -1))
