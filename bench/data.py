"""Load times of MP-20 splits: first load (parse + canonicalize + cache) and cached load.

Each measurement runs in a fresh Python process, so its peak memory (max RSS) is its own.

    python -m bench.data [--data-dir DIR] [--splits train val test]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from matterloop.data import load_dataset_split
t1 = time.perf_counter()
dataset = load_dataset_split("mp_20", sys.argv[1], sys.argv[2] or None, cache_dir=sys.argv[3],
                             progress=False)
t2 = time.perf_counter()
print(json.dumps({"structures": len(dataset), "import_s": t1 - t0, "load_s": t2 - t1,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(split: str, data_dir: str, cache_dir: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, split, data_dir, cache_dir],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--splits", nargs="+", default=["train", "val", "test"])
    args = parser.parse_args()
    print("| split | structures | first load s | first peak MB | cached load s | cached peak MB |")
    print("|---|---|---|---|---|---|")
    for split in args.splits:
        with tempfile.TemporaryDirectory() as cache_dir:
            first = measure(split, args.data_dir, cache_dir)
            cached = measure(split, args.data_dir, cache_dir)
        print(
            f"| {split} | {first['structures']:,} | {first['load_s']:.1f} | {first['peak_mb']:.0f} "
            f"| {cached['load_s']:.3f} | {cached['peak_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
