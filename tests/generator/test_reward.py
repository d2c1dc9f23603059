"""Reward fine-tuning of the shipped generator (generator.training.reward): it raises the
model's likelihood of what was rewarded, leaves its start untouched, and the replay anchor holds
the loss on held-out MP-20 crystals."""

from __future__ import annotations

import hashlib
import math

import pytest
import torch
from pymatgen.core import Lattice, Structure

from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.data.canonical import canonicalize
from matterloop.data.tensors import structure_to_tensors
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.reward import (
    RewardError,
    RewardFinetuneConfig,
    RewardWeights,
    denoising_loss,
    reward_finetune,
)

ANCHOR_BOUND = 0.02
"""Largest relative rise of the held-out MP-20 loss after a reward fine-tuning round with the
default replay share (measured: see the test)."""


@pytest.fixture(scope="module")
def mp20() -> dict[str, CrystalDataset]:
    return {split: load_dataset_split("mp_20", split) for split in ("train", "val", "test")}


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "base.pt"
    path.write_bytes(default_checkpoint().read_bytes())
    return path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_round_raises_the_likelihood_of_the_rewarded_and_leaves_the_start_alone(mp20, base_path):
    before_file = digest(base_path)
    start = TrainedGenerator.load(base_path)
    weights = {k: v.clone() for k, v in start.model.state_dict().items()}
    rewarded = [mp20["test"].structure(i) for i in range(8)]
    rewards = [1.0] * 6 + [0.0, math.nan]  # the last two are not training crystals
    crystals = [structure_to_tensors(canonicalize(s)) for s in rewarded[:6]]
    config = RewardFinetuneConfig(steps=10, batch_size=12, lr=2e-4, replay_fraction=0.0)
    tuned = reward_finetune(start, rewarded, rewards, mp20["train"].select([]), config)

    loss_before = denoising_loss(start.model, crystals)
    loss_after = denoising_loss(tuned.model, crystals)
    assert loss_after < loss_before - 0.01, (loss_before, loss_after)
    record = tuned.info["reward_finetuning"][-1]
    assert record["rewarded_structures"] == 6 and record["skipped_structures"] == 2
    assert tuned.info["steps"] == start.info["steps"]  # the base's own record is kept
    # the start, in memory and on disk, is as it was
    assert digest(base_path) == before_file
    for name, value in start.model.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert not any(p.requires_grad for p in tuned.model.parameters())


def test_the_replay_anchor_bounds_the_held_out_loss(mp20, base_path):
    """Rewarded cells unlike MP-20 (CsCl-type intermetallics of a 3 Å cube) pull the model away
    from the data; half of each batch replayed from its training crystals holds it near."""
    start = TrainedGenerator.load(base_path)
    replay = CrystalDataset.concatenate([mp20["train"], mp20["val"]])
    pairs = [("Fe", "Au"), ("Mn", "Pt"), ("Co", "Bi"), ("Ni", "Sn"), ("Cr", "Ir"), ("V", "Os")]
    rewarded = [Structure(Lattice.cubic(3.0), pair, [[0, 0, 0], [0.5] * 3]) for pair in pairs]
    held_out = [mp20["test"][i] for i in range(100, 164)]
    before = denoising_loss(start.model, held_out)
    after = {}
    for replay_fraction in (0.5, 0.0):
        config = RewardFinetuneConfig(
            steps=20, batch_size=16, lr=2e-4, replay_fraction=replay_fraction
        )
        tuned = reward_finetune(start, rewarded, [1.0] * len(pairs), replay, config)
        after[replay_fraction] = denoising_loss(tuned.model, held_out)
    assert after[0.5] <= before * (1 + ANCHOR_BOUND), (before, after)
    assert after[0.5] < after[0.0], after  # without the anchor the model drifts further


def test_bad_settings_and_rewards_are_clear_errors(mp20):
    with pytest.raises(RewardError, match="replay_fraction must be in"):
        RewardFinetuneConfig(replay_fraction=1.0)
    with pytest.raises(RewardError, match="steps and batch_size must be positive"):
        RewardFinetuneConfig(steps=-1)
    with pytest.raises(RewardError, match="reward weights must be positive"):
        RewardWeights(hit=0.0)
    start = TrainedGenerator.load(default_checkpoint())
    structures = [mp20["test"].structure(i) for i in range(2)]
    empty = mp20["train"].select([])
    config = RewardFinetuneConfig(steps=1, replay_fraction=0.0)
    with pytest.raises(RewardError, match="nothing to learn from"):
        reward_finetune(start, structures, [0.0, 0.0], empty, config)
    with pytest.raises(RewardError, match="must not be negative"):
        reward_finetune(start, structures, [1.0, -1.0], empty, config)
    with pytest.raises(RewardError, match="2 structures but 1 rewards"):
        reward_finetune(start, structures, [1.0], empty, config)
    with pytest.raises(RewardError, match="needs replay crystals"):
        reward_finetune(start, structures, [1.0, 1.0], empty, RewardFinetuneConfig(steps=1))


def test_reward_weights_rank_hits_over_near_hits_over_the_rest():
    weights = RewardWeights(hit=1.0, near_hit=0.25, near_e_hull=0.2)
    assert weights.of(hit=True, novel=True, e_above_hull=0.0) == 1.0
    assert weights.of(hit=False, novel=True, e_above_hull=0.15) == 0.25
    assert weights.of(hit=False, novel=True, e_above_hull=0.35) == 0.0
    assert weights.of(hit=False, novel=False, e_above_hull=0.0) == 0.0  # a known phase
    assert weights.of(hit=False, novel=True, e_above_hull=math.nan) == 0.0
