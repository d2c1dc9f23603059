"""Generator speed and sample quality: training throughput, sampling time and memory, and the
validity / uniqueness / novelty of samples at the full and the fast step count.

    python -m bench.generator [--checkpoint FILE] [--num-fast 1024] [--num-full 1024]
                              [--fast-steps 100] [--full-steps 1000] [--threads 2]

Sampling runs in a fresh process per setting so that its peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from matterloop.data import collate, load_dataset_split
from matterloop.generator.evaluation import evaluate_samples, load_reference
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.sample_writer import read_samples
from matterloop.generator.training.model_io import TrainedGenerator

SAMPLER = """
import json, resource, sys, time, torch
from matterloop.generator.sampling import SamplerConfig, sample_structures
from matterloop.generator.sample_writer import SampleWriter
from matterloop.generator.training.model_io import TrainedGenerator
checkpoint, out, num, steps, batch, threads = sys.argv[1:7]
torch.set_num_threads(int(threads))
generator = TrainedGenerator.load(checkpoint)
writer = SampleWriter(out)
started = time.perf_counter()
dropped = 0
for start in range(0, int(num), int(batch)):
    size = min(int(batch), int(num) - start)
    torch.manual_seed(start)
    counts = generator.draw_num_atoms(size, torch.Generator().manual_seed(start))
    result = sample_structures(generator.model, counts, SamplerConfig(int(steps)))
    writer.write_batch(result.structures)
    dropped += result.num_dropped
seconds = time.perf_counter() - started
writer.finish()
print(json.dumps({"seconds": seconds, "dropped": dropped,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def training_throughput(checkpoint: Path, steps: int, batch_size: int, threads: int) -> float:
    """Structures per second of training steps (forward, backward, AdamW) at ``batch_size``."""
    torch.set_num_threads(threads)
    model = TrainedGenerator.load(checkpoint).model.train()
    data = load_dataset_split("mp_20", "train", progress=False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    batches = [
        collate([data[int(i)] for i in torch.randperm(len(data), generator=generator)[:batch_size]])
        for _ in range(steps + 2)
    ]
    for index, batch in enumerate(batches):
        if index == 2:
            started = time.perf_counter()
        loss = model.loss(batch).total
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def sample_and_evaluate(args, steps: int, num: int, reference, workdir: Path) -> dict:
    out = workdir / f"steps{steps}"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SAMPLER,
            str(args.checkpoint),
            str(out),
            str(num),
            str(steps),
            str(args.batch_size),
            str(args.threads),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    timing = json.loads(result.stdout.strip().splitlines()[-1])
    names, structures = read_samples(out)
    summary = evaluate_samples(structures, reference, names).summary
    return {"steps": steps, "num": num, **timing, **summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--num-fast", type=int, default=1024)
    parser.add_argument("--num-full", type=int, default=1024)
    parser.add_argument("--fast-steps", type=int, default=100)
    parser.add_argument("--full-steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-steps", type=int, default=20)
    args = parser.parse_args()
    args.checkpoint = args.checkpoint or default_checkpoint()

    model = TrainedGenerator.load(args.checkpoint).model
    parameters = sum(p.numel() for p in model.parameters())
    throughput = training_throughput(
        args.checkpoint, args.train_steps, args.batch_size, args.threads
    )
    print(f"parameters: {parameters:,}; checkpoint {args.checkpoint.stat().st_size / 1e6:.1f} MB")
    print(
        f"training throughput: {throughput:.0f} structures/s "
        f"(batch {args.batch_size}, {args.threads} threads)"
    )

    reference = load_reference("mp_20")
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for steps, num in ((args.full_steps, args.num_full), (args.fast_steps, args.num_fast)):
            if num > 0:
                rows.append(sample_and_evaluate(args, steps, num, reference, Path(workdir)))
    print()
    print(
        "| steps | requested | diverged | s/requested structure | peak MB | struct. valid "
        "| comp. valid | unique | novel | formula w/o structure | W1 atoms | W1 elements |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['steps']} | {r['num']} | {r['dropped']} | {r['seconds'] / r['num']:.3f} "
            f"| {r['peak_mb']:.0f} "
            f"| {100 * r['structurally_valid_fraction']:.1f}% "
            f"| {100 * r['compositionally_valid_fraction']:.1f}% "
            f"| {100 * r['unique_fraction']:.1f}% | {100 * r['novel_fraction']:.1f}% "
            f"| {100 * r['formula_in_unstructured_reference_fraction']:.1f}% "
            f"| {r['wasserstein_num_atoms']:.3f} | {r['wasserstein_num_elements']:.3f} |"
        )


if __name__ == "__main__":
    main()
