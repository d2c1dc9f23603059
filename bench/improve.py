"""Figures of a ``matterloop generator improve`` run, round by round, as markdown.

    python -m bench.improve runs/improve

Each round's samples come from the model that round started with (round 0: the base), at seeds
of their own, and are measured on the S.U.N. protocol of ``bench/sun.py`` (the same code). The
first table has ``bench/sun.py``'s columns; the second what the round rewarded and learned: the
number of rewarded relaxed structures, the S.U.N. samples that repeat a structure rewarded in an
earlier round, the denoising loss on 256 held-out MP-20 test crystals and on the rewarded set
before and after the fine-tuning, and the CPU seconds of sampling, relaxation (sum over
structures, one thread each) and fine-tuning.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.sun import markdown


def learning_markdown(summaries: list[dict]) -> str:
    lines = [
        "| round | rewarded | S.U.N. repeats of rewarded | held-out loss | rewarded loss "
        "| sampling s | relaxation CPU s | fine-tuning s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        rewarded = (
            f"{s['rewarded_loss_before']:.3f} → {s['rewarded_loss_after']:.3f}"
            if "rewarded_loss_after" in s
            else "—"
        )
        lines.append(
            f"| {s['round']} | {s['rewarded']} | {s['sun_repeats_of_rewarded']} "
            f"| {s['held_out_loss_before']:.4f} → {s['held_out_loss_after']:.4f} | {rewarded} "
            f"| {s['seconds_sampling']:.0f} | {s['seconds_oracle_cpu']:.0f} "
            f"| {s['seconds_finetune']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder of a generator improve run")
    args = parser.parse_args()
    summaries = []
    for path in sorted(args.out.glob("round_*/summary.json")):
        summaries.append(json.loads(path.read_text()))
    rows = [{"set": f"round {s['round']}", **s} for s in summaries]
    print(markdown(rows))
    print()
    print(learning_markdown(summaries))


if __name__ == "__main__":
    main()
