"""Run a campaign from Python instead of the command line.

    python examples/run_campaign.py --dir campaigns/api-demo --rounds 2

The campaign looks for stable crystals (E_hull ≤ 0.1 eV/atom on the CHGNet hull shipped with
matterloop) of high magnetic density (µB/Å³) made of low-supply-risk elements (production HHI),
with the shipped generator, CHGNet relaxations as the oracle and a local Ray instance. Running the
same command again resumes the campaign; a larger ``--rounds`` extends it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ray

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.loop import Campaign
from matterloop.agent.campaign.pareto import front_table


def magnet_campaign(directory: Path, rounds: int) -> CampaignConfig:
    """A small magnet-vs-supply-risk campaign that runs on two CPU cores."""
    return CampaignConfig.model_validate(
        {
            "name": "api-demo",
            "directory": directory,
            "objectives": [
                {"name": "magnetic_density", "direction": "maximize", "reference": 0.0},
                {"name": "hhi_production", "direction": "minimize", "reference": 10_000},
            ],
            "constraints": [{"name": "e_above_hull", "max": 0.1}],
            "oracle": {
                "name": "chgnet",
                "settings": {"threads": 1, "relax": {"fmax": 0.1, "max_steps": 100}},
            },
            "generator": {"num_candidates": 16, "steps": 50, "batch_size": 16},
            "acquisition": {"q": 3, "initial_labels": 4},
            "budget": {"rounds": rounds},
            "ray": {"num_cpus": 2},
            "tracking": {"enabled": False},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("campaigns/api-demo"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    config = magnet_campaign(args.dir, args.rounds)
    try:
        table = Campaign(config).run()  # one row per oracle result
    finally:
        ray.shutdown()
    front = front_table(table, config.objectives)
    print(f"{len(table)} structures labeled; Pareto front:")
    print(front[["id", "formula", "magnetic_density", "hhi_production", "e_above_hull"]])


if __name__ == "__main__":
    main()
