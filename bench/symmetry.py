"""Symmetry of generated crystals and what the sampler's final denoising does for it.

    python -m bench.symmetry [--checkpoint FILE] [--crystals 64] [--samples 64] [--steps 100]
                             [--denoising 0 1 3 10] [--threads 1] [--seed 3]

For each count of final Tweedie steps on the coordinates (``SamplerConfig.denoising_steps``):

* MP-20 test crystals noised to the coordinate process's σ(0) (where the reverse process ends)
  and then denoised by the model: the share whose space group (spglib, symprec 0.1) is kept;
* samples of the model: the share in P1, and structural and compositional (SMACT) validity.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import replace

import torch

from matterloop.data import collate, load_dataset_split
from matterloop.data.properties import space_group_number
from matterloop.generator.diffusion.lattice import symmetrize_lattice
from matterloop.generator.evaluation import compositionally_valid, structurally_valid
from matterloop.generator.guided import generate_batches
from matterloop.generator.model import CrystalState, DiffusionModel
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.sampling import SamplerConfig, denoising_step
from matterloop.generator.training.model_io import TrainedGenerator


def kept_space_groups(model: DiffusionModel, clean: CrystalState, steps: int) -> float:
    """Share of ``clean`` crystals whose space group survives noise at σ(0) and ``steps``
    denoising steps."""
    cfg = model.config
    num_crystals = clean.num_atoms.shape[0]
    zero = torch.zeros(num_crystals, dtype=clean.lattice.dtype)
    sigma = cfg.coordinates.sigma(zero[clean.batch], clean.num_atoms[clean.batch])
    noisy, _ = cfg.coordinates.sample_marginal(clean.frac_coords, sigma)
    state = replace(clean, frac_coords=noisy)
    t_min = torch.full_like(zero, cfg.min_time)
    with torch.no_grad():
        for _ in range(steps):
            state = denoising_step(model, state, model(state, t_min), t_min)
    before = [space_group_number(s) for s in clean.to_batch().to_structures()]
    after = [space_group_number(s) for s in state.to_batch().to_structures()]
    return sum(a == b for a, b in zip(before, after, strict=True)) / num_crystals


def sample_symmetry(generator: TrainedGenerator, args: argparse.Namespace, steps: int) -> dict:
    """P1 share and validity of ``args.samples`` samples with ``steps`` denoising steps."""
    config = SamplerConfig(num_steps=args.steps, denoising_steps=steps)
    structures = []
    for result, _ in generate_batches(generator, args.samples, config=config, seed=args.seed):
        structures += result.structures
    groups = Counter(space_group_number(s) for s in structures)
    count = len(structures)
    return {
        "p1": groups[1] / count,
        "structurally_valid": sum(map(structurally_valid, structures)) / count,
        "smact": sum(map(compositionally_valid, structures)) / count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="base model (default: the shipped one)")
    parser.add_argument("--crystals", type=int, default=64, help="MP-20 test crystals")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="reverse steps of the samples")
    parser.add_argument("--denoising", type=int, nargs="+", default=[0, 1, 3, 10])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    generator = TrainedGenerator.load(args.checkpoint or default_checkpoint())
    test = load_dataset_split("mp_20", "test", progress=False)
    clean = CrystalState.from_batch(collate([test[i] for i in range(args.crystals)]))
    clean = replace(clean, lattice=symmetrize_lattice(clean.lattice))

    print(
        f"| denoising steps | test crystals' space group kept ({args.crystals}) "
        f"| samples in P1 ({args.samples}, {args.steps} steps) | structurally valid | SMACT |"
    )
    print("|---|---|---|---|---|")
    for steps in args.denoising:
        torch.manual_seed(args.seed)
        kept = kept_space_groups(generator.model, clean, steps)
        samples = sample_symmetry(generator, args, steps)
        print(
            f"| {steps} | {100 * kept:.0f}% | {100 * samples['p1']:.0f}% "
            f"| {100 * samples['structurally_valid']:.1f}% | {100 * samples['smact']:.1f}% |",
            flush=True,
        )


if __name__ == "__main__":
    main()
