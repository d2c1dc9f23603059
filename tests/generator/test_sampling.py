"""Predictor-corrector sampling."""

from __future__ import annotations

import torch
from pymatgen.core import Structure

from generator.data.tensors import structure_to_tensors
from generator.diffusion.atom_types import MAX_Z, atomic_numbers_to_tokens
from generator.diffusion.coordinates import wrapped_normal_score
from generator.diffusion.lattice import symmetrize_lattice
from generator.model import CrystalState, DiffusionModel, DiffusionModelConfig, ScoreOutput
from generator.network import ScoreNetworkConfig
from generator.sampling import SamplerConfig, sample, sample_structures

SMALL = DiffusionModelConfig(
    network=ScoreNetworkConfig(hidden_dim=32, num_blocks=2, num_frequencies=4)
)


def test_samples_are_well_formed_structures() -> None:
    torch.manual_seed(0)
    model = DiffusionModel(SMALL)
    num_atoms = torch.tensor([1, 3, 7, 20])
    batch = sample(model, num_atoms, SamplerConfig(num_steps=8))
    assert torch.equal(batch.num_atoms, num_atoms)
    assert batch.atomic_numbers.shape == (31,)
    assert bool(((batch.atomic_numbers >= 1) & (batch.atomic_numbers <= MAX_Z)).all())
    assert bool(((batch.frac_coords >= 0) & (batch.frac_coords < 1)).all())
    assert bool(torch.isfinite(batch.lattice).all())
    assert torch.allclose(batch.lattice, batch.lattice.transpose(-1, -2))
    structures = sample_structures(model, torch.tensor([2, 5]), SamplerConfig(num_steps=3))
    assert [len(s) for s in structures] == [2, 5]
    assert all(isinstance(s, Structure) for s in structures)


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

    num_atoms = torch.full((copies,), 2)
    batch = sample(model, num_atoms, SamplerConfig(num_steps=100), score_fn=exact_scores)
    assert torch.equal(batch.atomic_numbers, crystal.atomic_numbers.repeat(copies))
    assert torch.allclose(batch.lattice, lattice0, atol=1e-6)
    error = batch.frac_coords - x0
    error = error - torch.round(error)
    assert error.abs().max().item() < 0.04
    assert error.abs().mean().item() < 0.01
