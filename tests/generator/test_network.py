"""Symmetries of the periodic score network (checked in float64)."""

from __future__ import annotations

import pytest
import torch

from matterloop.data.tensors import CrystalBatch
from matterloop.generator.diffusion.atom_types import MASK_TOKEN, atomic_numbers_to_tokens
from matterloop.generator.network import NetworkOutput, PeriodicScoreNetwork, ScoreNetworkConfig

from .test_lattice import random_rotations


@pytest.fixture
def network() -> PeriodicScoreNetwork:
    torch.manual_seed(0)
    config = ScoreNetworkConfig(hidden_dim=32, num_blocks=2, num_frequencies=4)
    return PeriodicScoreNetwork(config).double().eval()


def run(network: PeriodicScoreNetwork, batch: CrystalBatch, **changes) -> NetworkOutput:
    inputs = {
        "tokens": atomic_numbers_to_tokens(batch.atomic_numbers),
        "frac_coords": batch.frac_coords,
        "lattice": batch.lattice,
        "t": torch.linspace(0.1, 0.9, batch.num_crystals, dtype=torch.float64),
        "num_atoms": batch.num_atoms,
        "batch": batch.batch,
    }
    inputs["tokens"][::3] = MASK_TOKEN
    inputs.update(changes)
    return network(**inputs)


def assert_close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max().item()


def test_output_shapes_and_symmetric_lattice(network, small_batch) -> None:
    out = run(network, small_batch)
    n, b = small_batch.frac_coords.shape[0], small_batch.num_crystals
    assert out.coordinates.shape == (n, 3)
    assert out.lattice.shape == (b, 3, 3)
    assert out.type_logits.shape == (n, 100)
    assert torch.equal(out.lattice, out.lattice.transpose(-1, -2))


def test_permutation_equivariance(network, small_batch) -> None:
    torch.manual_seed(1)
    # A random permutation within each crystal (atoms stay grouped by crystal).
    order = torch.cat(
        [
            start + torch.randperm(int(count))
            for start, count in zip(
                torch.cumsum(small_batch.num_atoms, 0) - small_batch.num_atoms,
                small_batch.num_atoms,
                strict=True,
            )
        ]
    )
    assert not torch.equal(order, torch.arange(order.shape[0]))
    reference = run(network, small_batch)
    tokens = atomic_numbers_to_tokens(small_batch.atomic_numbers)
    tokens[::3] = MASK_TOKEN
    permuted = run(
        network, small_batch, tokens=tokens[order], frac_coords=small_batch.frac_coords[order]
    )
    assert_close(permuted.coordinates, reference.coordinates[order])
    assert_close(permuted.type_logits, reference.type_logits[order])
    assert_close(permuted.lattice, reference.lattice)


def test_invariance_to_common_shift_and_lattice_translations(network, small_batch) -> None:
    reference = run(network, small_batch)
    shift = torch.tensor([0.137, 0.61, 0.93], dtype=torch.float64)
    moved = (small_batch.frac_coords + shift) % 1.0
    # Independent integer translations of single atoms are the same crystal too.
    moved = moved + torch.randint(-2, 3, moved.shape).double()
    shifted = run(network, small_batch, frac_coords=moved)
    for name in ("coordinates", "lattice", "type_logits"):
        assert_close(getattr(shifted, name), getattr(reference, name))


def test_invariance_to_rotating_the_cell(network, small_batch) -> None:
    torch.manual_seed(2)
    reference = run(network, small_batch)
    rotations = random_rotations(small_batch.num_crystals)
    rotated = run(network, small_batch, lattice=small_batch.lattice @ rotations.transpose(-1, -2))
    for name in ("coordinates", "lattice", "type_logits"):
        assert_close(getattr(rotated, name), getattr(reference, name))


def test_outputs_depend_on_inputs(network, small_batch) -> None:
    """Guards the symmetry tests against a network that ignores its inputs."""
    reference = run(network, small_batch)
    moved = small_batch.frac_coords.clone()
    moved[0] += 0.1
    assert not torch.allclose(
        run(network, small_batch, frac_coords=moved).coordinates, reference.coordinates
    )
    stretched = run(network, small_batch, lattice=small_batch.lattice * 1.1)
    assert not torch.allclose(stretched.lattice, reference.lattice)


def test_hooks_act_after_every_block(network, small_batch) -> None:
    calls = []

    def zero_adapter(hidden: torch.Tensor, block_index: int, batch: torch.Tensor) -> torch.Tensor:
        calls.append((block_index, hidden.shape, batch.shape))
        return torch.zeros_like(hidden)

    reference = run(network, small_batch)
    with_zero = run(network, small_batch, hooks=[zero_adapter])
    n = small_batch.frac_coords.shape[0]
    assert [c[0] for c in calls] == [0, 1]
    assert all(c[1] == (n, 32) and c[2] == (n,) for c in calls)
    assert_close(with_zero.coordinates, reference.coordinates)

    def bias(hidden: torch.Tensor, block_index: int, batch: torch.Tensor) -> torch.Tensor:
        # Not constant across features: a constant would be removed by the next layer norm.
        return torch.linspace(-1, 1, hidden.shape[-1], dtype=hidden.dtype).expand_as(hidden)

    changed = run(network, small_batch, hooks=[bias])
    assert not torch.allclose(changed.type_logits, reference.type_logits)
