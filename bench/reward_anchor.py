"""How far reward fine-tuning moves the generator from its data, with and without replay.

    python -m bench.reward_anchor [--steps 20 300] [--lrs 5e-5 2e-4 1e-3] [--threads 2]

The shipped base is fine-tuned on two small rewarded sets: six CsCl-type intermetallic cells of
a 3 Å cube (unlike MP-20) and the first eight MP-20 test crystals (like it), for each step count,
learning rate and replay share (0.5, the default, and 0). Printed: the mean denoising loss
(:func:`matterloop.generator.training.reward.denoising_loss`, fixed times and noise) on 64 held-out
MP-20 test crystals before and after, and on the rewarded set after (lower: more likely under the
model).
"""

from __future__ import annotations

import argparse
import time

import torch
from pymatgen.core import Lattice, Structure

from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.data.canonical import canonicalize
from matterloop.data.tensors import structure_to_tensors
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.reward import (
    RewardFinetuneConfig,
    denoising_loss,
    reward_finetune,
)

PAIRS = [("Fe", "Au"), ("Mn", "Pt"), ("Co", "Bi"), ("Ni", "Sn"), ("Cr", "Ir"), ("V", "Os")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 300])
    parser.add_argument("--lrs", type=float, nargs="+", default=[5e-5, 2e-4, 1e-3])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = {s: load_dataset_split("mp_20", s) for s in ("train", "val", "test")}
    replay = CrystalDataset.concatenate([splits["train"], splits["val"]])
    held_out = [splits["test"][i] for i in range(100, 164)]
    sets = {
        "CsCl-type cells": [
            Structure(Lattice.cubic(3.0), pair, [[0, 0, 0], [0.5] * 3]) for pair in PAIRS
        ],
        "MP-20 test crystals": [splits["test"].structure(i) for i in range(8)],
    }
    start = TrainedGenerator.load(default_checkpoint())
    before = denoising_loss(start.model, held_out)
    print(f"held-out loss of the base: {before:.4f}")
    print(
        "| rewarded set | steps | lr | replay | held-out loss | change | rewarded loss | s |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    for name, structures in sets.items():
        crystals = [structure_to_tensors(canonicalize(s)) for s in structures]
        base_rewarded = denoising_loss(start.model, crystals)
        for steps in args.steps:
            for lr in args.lrs:
                for replay_fraction in (0.5, 0.0):
                    config = RewardFinetuneConfig(
                        steps=steps, batch_size=16, lr=lr, replay_fraction=replay_fraction
                    )
                    started = time.perf_counter()
                    tuned = reward_finetune(
                        start, structures, [1.0] * len(structures), replay, config
                    )
                    seconds = time.perf_counter() - started
                    after = denoising_loss(tuned.model, held_out)
                    rewarded = denoising_loss(tuned.model, crystals)
                    print(
                        f"| {name} | {steps} | {lr:g} | {replay_fraction} | {after:.4f} "
                        f"| {after / before - 1:+.1%} | {base_rewarded:.3f} → {rewarded:.3f} "
                        f"| {seconds:.1f} |"
                    )


if __name__ == "__main__":
    main()
