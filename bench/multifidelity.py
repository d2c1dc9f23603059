"""DFT in the loop: a two-fidelity campaign (CHGNet screens, GPAW labels) against a CHGNet-only
campaign whose front is confirmed with GPAW afterwards, at about the same CPU budget.

    python -m bench.multifidelity [--cpu-seconds 3000] [--candidates 32] [--screened 6] [--q 2]
                                  [--max-atoms 8] [--seed 0] [--out campaigns/multifidelity]
                                  [--analyze-only]

Both arms run ``configs/magnet_dft.yaml`` (magnetic density against HHI; cells of at most
``--max-atoms`` atoms; guided generation with adapters learned from MP-20 first), scaled down:

- ``two_fidelity``: CHGNet relaxes ``--screened`` picks a round, GPAW (spin-polarized PBE, MP's
  Hubbard U, single points on CHGNet's geometry) labels the ``--q`` chosen by the cost-aware
  acquisition, until the oracle work of both fidelities reaches ``--cpu-seconds``;
- ``chgnet_confirmed``: the same campaign with CHGNet as its only oracle (``--screened`` picks a
  round, as many CHGNet relaxations as the first arm's) for as many rounds as the first arm ran,
  then ``matterloop confirm`` relabels its best hits (its front where it has too few) with the
  same GPAW, as many structures as the first arm sent to GPAW.

Printed per arm: DFT calls, CPU-seconds of each fidelity, the loop's own time (generation,
filters, acquisitions, surrogate refits) as a share of the oracle time, and the DFT-confirmed novel
hits: GPAW's magnetic density > 0.2 µB/Å³, HHI < 1500, novel after relaxation (against the 20,666
MP-20 structures and the campaign's own) and stable by CHGNet on the complete hull (E_hull ≤ 0.1
eV/atom; GPAW's energies have no hull here). For the first arm also how well the screen alone and
the multi-fidelity model predicted GPAW's magnetic density of each round's picks, before their
labels were added. Rerunning resumes both arms.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import yaml
from rich.console import Console

from bench.efficiency import HHI_HIT, MAGNETIC_DENSITY_HIT
from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.confirm import confirm_front
from matterloop.agent.campaign.loop import Campaign
from matterloop.oracles.registry import OracleSpec

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "magnet_dft.yaml"
LOOP_STAGES = ("generation", "filter", "acquisition", "oracle_acquisition", "surrogate_refit")
"""Round stages that are the loop's own work, not the oracles'."""


def arm_config(arm: str, args: argparse.Namespace, rounds: int | None = None) -> dict:
    """The campaign config of ``arm`` (a YAML mapping)."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["name"] = arm
    config["seed"] = args.seed
    config["generator"].update(num_candidates=args.candidates, batch_size=args.candidates)
    config["adapters"].update(prior_steps=args.prior_steps, every=0)
    config["filters"]["max_atoms"] = args.max_atoms
    config["acquisition"] = {"q": args.q, "initial_labels": 4}
    config["fidelity"].update(screened=args.screened)
    config["ray"] = {"num_cpus": args.cpus, "oracle_cpus": 1}
    config["tracking"] = {"enabled": False}
    config["budget"] = {"rounds": 100, "oracle_cpu_seconds": args.cpu_seconds}
    if arm == "chgnet_confirmed":
        config["oracle"] = config.pop("screen")
        config["acquisition"]["q"] = args.screened
        config.pop("fidelity")
        config["budget"] = {"rounds": rounds}
    return config


def run(config: dict, directory: Path) -> Campaign:
    settings = CampaignConfig.model_validate({**config, "directory": directory})
    campaign = Campaign(settings, config)
    campaign.run()
    return campaign


def gpaw_spec() -> OracleSpec:
    config = yaml.safe_load(BASE_CONFIG.read_text())
    return OracleSpec.model_validate(config["oracle"])


def run_arms(args: argparse.Namespace) -> None:
    try:
        first = run(arm_config("two_fidelity", args), args.out / "two_fidelity")
        rounds = len(first.store.summaries())
        dft_calls = len(first.store.evaluations())
        second = run(arm_config("chgnet_confirmed", args, rounds), args.out / "chgnet_confirmed")
        top = dft_calls if int(second.table()["hit"].sum()) >= dft_calls else None
        confirmed = confirm_front(second.store.root, second.config, gpaw_spec(), top, Console())
        if top is None and len(confirmed.table) > dft_calls:
            print(f"note: the front has {len(confirmed.table)} members, more than {dft_calls}")
    finally:
        ray.shutdown()


def dft_hits(frame: pd.DataFrame, magnetic: str) -> int:
    """Novel, CHGNet-stable rows with GPAW's magnetic density (column ``magnetic``) > 0.2 µB/Å³
    and HHI < 1500."""
    chosen = (
        frame["novel"].astype(bool)
        & frame["stable"].astype(bool)
        & (frame[magnetic] > MAGNETIC_DENSITY_HIT)
        & (frame["hhi_production"] < HHI_HIT)
    )
    return int(chosen.sum())


def loop_share(summaries: list[dict]) -> dict[str, float]:
    """Seconds of the loop's own stages and of the oracles, and their ratio."""
    loop = sum(s.seconds.get(k, 0.0) for s in summaries for k in LOOP_STAGES)
    oracle = sum(s.seconds.get(k, 0.0) for s in summaries for k in ("oracle", "screen"))
    return {"loop_s": loop, "oracle_wall_s": oracle, "loop_share": loop / oracle if oracle else 0}


def analyze(out: Path) -> dict:
    results = {}
    two = Campaign(
        CampaignConfig.model_validate(
            {
                **yaml.safe_load((out / "two_fidelity" / "config.yaml").read_text()),
                "directory": out / "two_fidelity",
            }
        ),
        {},
    )
    summaries = two.store.summaries()
    table = two.table()
    errors = [
        (s.round, s.fidelity["errors"].get("magnetic_density"))
        for s in summaries
        if s.fidelity["errors"].get("magnetic_density")
    ]
    results["two_fidelity"] = {
        "rounds": len(summaries),
        "dft_calls": len(table),
        "dft_failures": int((~table["ok"]).sum()),
        "screened": len(two.store.screenings()),
        "cpu_seconds": two.cpu_seconds(),
        **loop_share(summaries),
        "dft_confirmed_novel_hits": dft_hits(table, "magnetic_density"),
        "novel_stable": int((table["novel"] & table["stable"]).sum()),
        "magnetic_density_errors_by_round": errors,
    }
    directory = out / "chgnet_confirmed"
    config = CampaignConfig.model_validate(
        {**yaml.safe_load((directory / "config.yaml").read_text()), "directory": directory}
    )
    chgnet = Campaign(config, {})
    summaries = chgnet.store.summaries()
    confirmed = pd.read_csv(directory / "confirm" / "gpaw" / "table.csv")
    gpaw_records = [
        json.loads(line)["result"]
        for line in (directory / "confirm" / "gpaw" / "results.jsonl").read_text().splitlines()
    ]
    gpaw_seconds = sum(r["wall_time_s"] for r in gpaw_records)
    results["chgnet_confirmed"] = {
        "rounds": len(summaries),
        "chgnet_calls": len(chgnet.table()),
        "dft_calls": len(confirmed),
        "dft_failures": int((~confirmed["ok_confirmed"].astype(bool)).sum()),
        "cpu_seconds": {"screen": chgnet.cpu_seconds()["oracle"], "oracle": gpaw_seconds},
        **loop_share(summaries),
        "chgnet_hits": int(chgnet.table()["hit"].sum()),
        "dft_confirmed_novel_hits": dft_hits(confirmed, "magnetic_density_confirmed"),
        "magnetic_density_mae_chgnet_vs_gpaw": float(
            np.nanmean(
                np.abs(confirmed["magnetic_density_confirmed"] - confirmed["magnetic_density"])
            )
        )
        if len(confirmed)
        else math.nan,
    }
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-seconds", type=float, default=3000.0)
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--screened", type=int, default=6)
    parser.add_argument("--q", type=int, default=2)
    parser.add_argument("--max-atoms", type=int, default=8)
    parser.add_argument("--prior-steps", type=int, default=1500)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("campaigns/multifidelity"))
    parser.add_argument("--analyze-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.analyze_only:
        run_arms(args)
    results = analyze(args.out)
    (args.out / "multifidelity.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
