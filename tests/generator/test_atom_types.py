"""Absorbing-state D3PM of atom types."""

from __future__ import annotations

import math

import pytest
import torch

from matterloop.generator.diffusion.atom_types import (
    MASK_TOKEN,
    MAX_Z,
    AtomTypeDiffusion,
    atomic_numbers_to_tokens,
    tokens_to_atomic_numbers,
)


def test_token_round_trip_and_range() -> None:
    z = torch.tensor([1, 8, 26, 100])
    assert torch.equal(tokens_to_atomic_numbers(atomic_numbers_to_tokens(z)), z)
    with pytest.raises(ValueError):
        atomic_numbers_to_tokens(torch.tensor([101]))
    with pytest.raises(ValueError):
        tokens_to_atomic_numbers(torch.tensor([MASK_TOKEN]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_continuous_time_maps_onto_every_step(dtype: torch.dtype) -> None:
    process = AtomTypeDiffusion(num_steps=1000)
    steps = torch.arange(0, 1001)
    assert torch.equal(process.discrete_step(steps.to(dtype) / 1000), steps)
    assert torch.equal(
        process.discrete_step(torch.linspace(1, 0, 1001, dtype=dtype)), steps.flip(0)
    )
    assert process.discrete_step(torch.tensor([1e-6], dtype=dtype)).item() == 1


def test_step_rates_compose_to_the_marginal_mask_probability() -> None:
    process = AtomTypeDiffusion(num_steps=1000)
    keep = torch.cumprod(1 - process.step_mask_rate(torch.arange(0, 1000)), 0)
    steps = torch.arange(1, 1001)
    assert torch.allclose(1 - keep, process.mask_probability(steps), atol=1e-12)
    assert process.mask_probability(torch.tensor(0)).item() == 0.0
    assert process.mask_probability(torch.tensor(1000)).item() == 1.0


def test_forward_masks_none_at_zero_all_at_T() -> None:
    torch.manual_seed(0)
    process = AtomTypeDiffusion(num_steps=1000)
    tokens = torch.randint(0, MAX_Z, (20_000,))
    assert torch.equal(process.sample_marginal(tokens, torch.zeros_like(tokens)), tokens)
    all_masked = process.sample_marginal(tokens, torch.full_like(tokens, 1000))
    assert bool((all_masked == MASK_TOKEN).all())
    quarter = process.sample_marginal(tokens, torch.full_like(tokens, 250))
    masked = quarter == MASK_TOKEN
    assert masked.double().mean().item() == pytest.approx(0.25, abs=0.01)
    assert torch.equal(quarter[~masked], tokens[~masked])


def test_hybrid_loss_values() -> None:
    process = AtomTypeDiffusion(num_steps=1000, hybrid_lambda=0.01)
    tokens = torch.tensor([0, 5, 7, 9])
    noisy = torch.tensor([MASK_TOKEN, 5, MASK_TOKEN, MASK_TOKEN])
    step = torch.tensor([10, 10, 400, 400])
    batch = torch.tensor([0, 0, 1, 1])
    num_atoms = torch.tensor([2, 2])
    uniform = torch.zeros(4, MAX_Z, dtype=torch.float64)
    loss = process.loss(uniform, tokens, noisy, step, batch, num_atoms)
    log_k = math.log(MAX_Z)
    expected = torch.tensor([(0.1 + 0.01) * log_k / 2, 2 * (1 / 400 + 0.01) * log_k / 2])
    assert torch.allclose(loss, expected.double())
    perfect = 100.0 * torch.nn.functional.one_hot(tokens, MAX_Z).double()
    assert process.loss(perfect, tokens, noisy, step, batch, num_atoms).max().item() < 1e-30


def test_reverse_step_reveals_at_the_right_rate() -> None:
    torch.manual_seed(0)
    process = AtomTypeDiffusion(num_steps=1000)
    count = 20_000
    noisy = torch.full((count,), MASK_TOKEN)
    noisy[:100] = 3
    logits = torch.full((count, MAX_Z), -50.0)
    logits[:, 41] = 50.0
    now = torch.full((count,), 800)
    half = process.reverse_step(noisy, logits, now, torch.full((count,), 400))
    assert torch.equal(half[:100], noisy[:100])
    revealed = half[100:] != MASK_TOKEN
    assert revealed.double().mean().item() == pytest.approx(0.5, abs=0.015)
    assert bool((half[100:][revealed] == 41).all())
    final = process.reverse_step(noisy, logits, now, torch.zeros_like(now))
    assert not bool((final == MASK_TOKEN).any())


@pytest.mark.parametrize("temperature", [1.0, 0.5, 0.25])
def test_type_temperature_sharpens_the_draw(temperature: float) -> None:
    torch.manual_seed(0)
    process = AtomTypeDiffusion(num_steps=1000)
    count = 20_000
    logits = torch.full((count, MAX_Z), -50.0)
    logits[:, 7], logits[:, 25] = 1.0, 0.0  # two types one logit apart
    noisy = torch.full((count,), MASK_TOKEN)
    now, last = torch.full((count,), 1), torch.zeros(count, dtype=torch.long)
    drawn = process.reverse_step(noisy, logits, now, last, temperature)
    expected = 1 / (1 + math.exp(-1 / temperature))  # softmax of the logits / temperature
    assert (drawn == 7).double().mean().item() == pytest.approx(expected, abs=0.015)
