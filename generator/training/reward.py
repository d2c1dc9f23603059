"""Reward fine-tuning: the generator learns from what an oracle said about its own samples.

The method is rejection-sampling fine-tuning with reward weights (reward-weighted regression
restricted to the denoising loss): every training batch draws a share of crystals from the
rewarded set, in proportion to their reward, and the rest from a *replay* set (the base model's
own training crystals), with the base model's loss on both. The rewarded crystals are the oracle's
**relaxed** structures, local minima of the potential: the model is pulled toward cells that need
little relaxation as well as toward stable, novel compositions. The replay share is the anchor
that keeps the model close to the data distribution it was trained on, so that diversity and
novelty survive (MatInvent keeps a replay buffer for the same reason); a KL penalty on the
reverse chain would need the chain's likelihoods, which a score model does not give cheaply.

The whole network is trained (AdamW at a small learning rate); adapters of an adapted model are
left to the adapter refit. Atom counts are still drawn from the base's distribution.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from pymatgen.core import Structure

from matterloop.core.errors import MatterloopError
from matterloop.data import CrystalDataset
from matterloop.data.canonical import canonicalize
from matterloop.data.readers import structure_problem
from matterloop.data.tensors import CrystalTensors, collate, structure_to_tensors
from matterloop.generator.devices import resolve_device
from matterloop.generator.model import DiffusionModel
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.trainer import descend, progress_bar

LOSS_SEED = 4321
"""Seed of the times and noise of :func:`denoising_loss`, so that two models are compared on the
same draws."""


class RewardError(MatterloopError):
    """Reward fine-tuning cannot start: bad settings, or nothing rewarded to learn from."""


@dataclass(frozen=True)
class RewardFinetuneConfig:
    """Attributes:
    steps: optimizer steps; batch_size: crystals per step.
    lr: AdamW learning rate of the whole network (the base was trained at 1e-3 to 3e-4).
    replay_fraction: share of every batch drawn from the replay crystals, in [0, 1).
    grad_clip: max global gradient norm.
    seed: order of crystals, times and noise.
    device: where the network trains; the returned model is on the CPU.
    """

    steps: int = 300
    batch_size: int = 64
    lr: float = 5e-5
    replay_fraction: float = 0.5
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.steps <= 0 or self.batch_size <= 0:
            raise RewardError(f"steps and batch_size must be positive, got {self}")
        if not 0 <= self.replay_fraction < 1:
            raise RewardError(f"replay_fraction must be in [0, 1), got {self.replay_fraction}")
        if not self.lr > 0:
            raise RewardError(f"lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class RewardWeights:
    """How much a relaxed structure is worth to the generator.

    Attributes:
        hit: a hit — offline, stable, unique and novel (S.U.N.), with every required quantity
            met; in a campaign, its ``hit`` (feasible, stable, novel, goals met).
        near_hit: novel and unique, within ``near_e_hull`` (eV/atom) of the hull, but not a
            hit (unstable, or a requirement missed).
        near_e_hull: the E_hull bound of a near hit.

    Failures, invalid cells, known phases and repeats are worth nothing: they are never
    training crystals, which is the "down-weighting" of rejection sampling.
    """

    hit: float = 1.0
    near_hit: float = 0.25
    near_e_hull: float = 0.2

    def __post_init__(self) -> None:
        if not (self.hit > 0 and self.near_hit >= 0 and self.near_e_hull >= 0):
            raise RewardError(f"reward weights must be positive (near_hit may be 0), got {self}")

    def of(self, *, hit: bool, novel: bool, e_above_hull: float) -> float:
        """The reward of a valid result (``novel``: novel and unique after relaxation)."""
        if hit:
            return self.hit
        if novel and math.isfinite(e_above_hull) and e_above_hull <= self.near_e_hull:
            return self.near_hit
        return 0.0


@dataclass
class RewardedCrystals:
    """Usable rewarded crystals (canonical cells) and their positive weights ``(n,)``."""

    crystals: list[CrystalTensors]
    weights: torch.Tensor
    num_skipped: int

    @classmethod
    def build(cls, structures: Sequence[Structure], rewards: Sequence[float]) -> RewardedCrystals:
        """Keep the structures with a positive, finite reward that can be training crystals
        (ordered, no overlapping atoms).

        Raises:
            RewardError: lengths differ, a reward is negative, or nothing is left.
        """
        if len(structures) != len(rewards):
            raise RewardError(f"{len(structures)} structures but {len(rewards)} rewards")
        if any(r < 0 for r in rewards if math.isfinite(r)):
            raise RewardError("rewards must not be negative")
        kept = [
            i
            for i, (s, r) in enumerate(zip(structures, rewards, strict=True))
            if math.isfinite(r) and r > 0 and structure_problem(s) is None
        ]
        if not kept:
            raise RewardError(
                f"none of the {len(structures)} structures has a positive reward: "
                "nothing to learn from"
            )
        crystals = [structure_to_tensors(canonicalize(structures[i])) for i in kept]
        weights = torch.tensor([float(rewards[i]) for i in kept], dtype=torch.double)
        return cls(crystals, weights, len(structures) - len(kept))


def reward_finetune(
    start: TrainedGenerator,
    structures: Sequence[Structure],
    rewards: Sequence[float],
    replay: CrystalDataset,
    config: RewardFinetuneConfig | None = None,
    progress: bool = False,
) -> TrainedGenerator:
    """Fine-tune a copy of ``start`` toward ``structures`` weighted by ``rewards`` (≥ 0; zero or
    ``nan`` drops a structure), anchored by ``replay`` crystals; ``start`` is left as it was.

    Returns:
        The fine-tuned generator (eval mode, CPU); its ``info`` keeps ``start``'s and appends this
        step to ``info["reward_finetuning"]``.

    Raises:
        RewardError: bad settings, no rewarded structure, or an empty replay set with a positive
            ``replay_fraction``.
        DeviceError: a device this machine does not have.
    """
    config = config or RewardFinetuneConfig()
    rewarded = RewardedCrystals.build(structures, rewards)
    num_replay = round(config.batch_size * config.replay_fraction)
    if num_replay and len(replay) == 0:
        raise RewardError("replay_fraction > 0 needs replay crystals")
    num_rewarded = config.batch_size - num_replay
    device = resolve_device(config.device)
    model = copy.deepcopy(start.model).to(device)
    model.requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    draws = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    model.train()
    losses = []
    started = time.perf_counter()
    with progress_bar(progress) as bar:
        task = bar.add_task("reward fine-tuning", total=config.steps)
        for _ in range(config.steps):
            chosen = torch.multinomial(rewarded.weights, num_rewarded, True, generator=draws)
            items = [rewarded.crystals[int(i)] for i in chosen]
            if num_replay:
                picked = torch.randint(len(replay), (num_replay,), generator=draws)
                items += [replay[int(i)] for i in picked]
            loss = model.loss(collate(items).to(device)).total
            descend(optimizer, loss, model, config.grad_clip)
            losses.append(float(loss.detach()))
            bar.update(task, advance=1, description=f"reward fine-tuning loss {losses[-1]:.3f}")
    model.requires_grad_(False)
    model.to("cpu").eval()
    record = {
        **asdict(config),
        "rewarded_structures": len(rewarded.crystals),
        "skipped_structures": rewarded.num_skipped,
        "reward_sum": float(rewarded.weights.sum()),
        "replay_crystals": len(replay),
        "seconds": round(time.perf_counter() - started, 1),
        "final_loss": sum(losses[-20:]) / len(losses[-20:]),
    }
    info = copy.deepcopy(start.info)
    info["reward_finetuning"] = [*info.get("reward_finetuning", []), record]
    return TrainedGenerator(model, start.num_atoms_probabilities, info)


@torch.no_grad()
def denoising_loss(
    model: DiffusionModel, crystals: Sequence[CrystalTensors], batch_size: int = 64
) -> float:
    """Mean denoising loss of ``model`` on ``crystals`` at seeded times and noise (the same
    draws for every model): lower is a higher likelihood of the crystals under the model."""
    if not crystals:
        raise RewardError("no crystals to measure the loss on")
    total = 0.0
    was_training = model.training
    model.eval()
    with torch.random.fork_rng():
        torch.manual_seed(LOSS_SEED)
        for start in range(0, len(crystals), batch_size):
            items = list(crystals[start : start + batch_size])
            total += float(model.loss(collate(items)).total) * len(items)
    model.train(was_training)
    return total / len(crystals)
