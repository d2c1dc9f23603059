"""Discovery efficiency: matterloop against three baselines on the magnet-vs-HHI task, at equal
oracle budgets, over several seeds.

    python -m bench.efficiency [--rounds 4] [--q 6] [--candidates 48] [--steps 100] [--seeds 0 1 2]
                               [--prior-steps 1500] [--out campaigns/efficiency] [--analyze-only]

Methods (all on ``configs/magnet_vs_hhi.yaml`` with the CHGNet oracle and the shipped CHGNet hull,
scaled down by the options above):

- ``matterloop``: guided generation (adapters fitted on MP-20's DFT magnetic densities and HHI
  before the first round, ``--prior-steps`` steps, then refitted every ``--adapter-every`` rounds;
  conditioned on magnetic density beyond the front and HHI < 1500) + surrogate (its
  magnetic-density head seeded with 1,000 MP-20 labels, ``surrogate.prior``) + qLogNEHVI after
  one round of random picks (the initial design, which gives the E_hull head its first labels);
- ``screening``: the same surrogate and acquisition over known MP-20 structures only (MatterGen's
  screening baseline; every pick is by definition not novel);
- ``random_generation``: random picks from unguided generation;
- ``guided_random``: guided generation (same adapters) without the surrogate/acquisition step:
  random picks.

Each campaign runs through the Python API in its own directory under ``--out``, one after the
other in this process (sharing the MP-20 reference); a rerun resumes unfinished campaigns and
skips finished ones. The analysis prints hypervolume against oracle calls
(mean over seeds, and a plot), the final hypervolume of each method and its ratio to the best
baseline, and the stable (E_hull ≤ 0.1 eV/atom), unique, novel structures with magnetic density
> 0.2 µB/Å³ and HHI < 1500 (with how many of them share the formula of an MP-20 entry whose
structure is not available, so that their novelty is unproven).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import yaml
from matplotlib.figure import Figure

from agent.campaign.candidates import matcher
from agent.campaign.config import CampaignConfig
from agent.campaign.loop import Campaign
from generator.evaluation import ReferenceSet, load_reference, novel_flags, unique_flags

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "magnet_vs_hhi.yaml"
METHODS = ("matterloop", "screening", "random_generation", "guided_random")
MAGNETIC_DENSITY_HIT = 0.2  # µB/Å³
HHI_HIT = 1500.0


def method_config(method: str, seed: int, args: argparse.Namespace) -> dict:
    """The campaign config of ``method`` for ``seed``, as a YAML mapping."""
    config = yaml.safe_load(BASE_CONFIG.read_text())
    config["name"] = f"{method}-seed{seed}"
    config["seed"] = seed
    config["oracle"]["settings"]["relax"] = {"fmax": 0.1, "max_steps": args.relax_steps}
    config["generator"].update(
        num_candidates=args.candidates, steps=args.steps, batch_size=args.candidates
    )
    config["adapters"].update(
        every=args.adapter_every,
        steps=args.adapter_steps,
        min_labels=args.q,
        prior_steps=args.prior_steps,
    )
    config["acquisition"].update(q=args.q, initial_labels=args.q)
    config["budget"] = {"rounds": args.rounds, "oracle_calls": args.rounds * args.q}
    config["ray"] = {"num_cpus": args.cpus, "oracle_cpus": 1}
    config["mlflow"] = {"enabled": False}
    if method in ("screening", "random_generation"):
        config["adapters"] = {"every": 0}
        config["generator"]["conditions"] = {}
    if method == "screening":
        config["generator"]["source"] = "mp_20"
        config["filters"]["novelty_reference"] = None
    if method in ("random_generation", "guided_random"):
        config["acquisition"]["kind"] = "random"
    return config


def run_campaign(config: dict, directory: Path, reference: ReferenceSet) -> None:
    """Run (or resume) one campaign in this process; all campaigns share one MP-20 reference
    (novelty filter, screening pool) so that it is read once."""
    settings = CampaignConfig.model_validate({**config, "directory": directory})
    campaign = Campaign(settings, config)
    campaign.reference = reference
    campaign.screening_pool = reference.structures
    campaign.run()


def campaign_table(directory: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The label table of a campaign and its per-round hypervolume against oracle calls."""
    config = CampaignConfig.model_validate(yaml.safe_load((directory / "config.yaml").read_text()))
    config = config.model_copy(update={"directory": directory})
    campaign = Campaign(config, {})
    summaries = campaign.store.summaries()
    history = pd.DataFrame(
        {
            "oracle_calls": [s["total_oracle_calls"] for s in summaries],
            "hypervolume": [s["hypervolume"] for s in summaries],
        }
    )
    return campaign.table(), history


def discoveries(
    table: pd.DataFrame, directory: Path, reference: ReferenceSet, novel_known: bool
) -> dict[str, int]:
    """Stable, unique, novel structures with magnetic density > 0.2 µB/Å³ and HHI < 1500
    (``novel``), and how many of them have the formula of a reference entry whose structure is
    not available, so that novelty is unproven (``formula_without_structure``)."""
    from agent.campaign.store import CampaignStore

    hits = table[
        table["ok"]
        & table["feasible"]
        & (table["magnetic_density"] > MAGNETIC_DENSITY_HIT)
        & (table["hhi_production"] < HHI_HIT)
    ]
    if hits.empty or not novel_known:
        return {"novel": 0, "formula_without_structure": 0}
    evaluations = {e.id: e for e in CampaignStore(directory).evaluations()}
    structures = [evaluations[i].result.structure for i in hits["id"]]
    match = matcher()
    unique = unique_flags(structures, match)
    novel = novel_flags(structures, reference, match)
    found = [s for s, u, n in zip(structures, unique, novel, strict=True) if u and n]
    unproven = [s.composition.reduced_formula in reference.unstructured_formulas for s in found]
    return {"novel": len(found), "formula_without_structure": sum(unproven)}


def analyze(args: argparse.Namespace, reference: ReferenceSet) -> dict:
    results: dict[str, dict] = {}
    fig = Figure(figsize=(6.4, 4.2), constrained_layout=True)
    ax = fig.subplots()
    for method in args.methods:
        curves, finals, found = [], [], []
        for seed in args.seeds:
            directory = args.out / f"{method}-seed{seed}"
            table, history = campaign_table(directory)
            curves.append(history.set_index("oracle_calls")["hypervolume"])
            finals.append(float(history["hypervolume"].iloc[-1]))
            found.append(discoveries(table, directory, reference, method != "screening"))
        curve = pd.concat(curves, axis=1).sort_index().ffill()
        mean = curve.mean(axis=1)
        ax.plot(mean.index, mean.to_numpy(), marker="o", label=method)
        ax.fill_between(mean.index, curve.min(axis=1), curve.max(axis=1), alpha=0.15)
        results[method] = {
            "final_hypervolume": finals,
            "final_mean": float(np.mean(finals)),
            "curve_mean": mean.round(4).to_dict(),
            "last_round_gain_mean": float((curve.iloc[-1] - curve.iloc[-2]).mean()),
            "discoveries": found,
        }
    ax.set_xlabel("oracle calls")
    ax.set_ylabel("hypervolume (µB/Å³ × HHI)")
    ax.set_title("magnetic density ↑ vs HHI ↓, E_hull ≤ 0.1 eV/atom")
    ax.legend()
    figure = REPO / "bench" / "figures" / "efficiency.png"
    figure.parent.mkdir(exist_ok=True)
    fig.savefig(figure, dpi=120)
    baselines = [m for m in results if m != "matterloop"]
    if "matterloop" in results and baselines:
        best = max(results[m]["final_mean"] for m in baselines)
        results["ratio_to_best_baseline"] = results["matterloop"]["final_mean"] / best
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--q", type=int, default=6, help="oracle calls per round")
    parser.add_argument("--candidates", type=int, default=48, help="candidates per round")
    parser.add_argument("--steps", type=int, default=100, help="sampling steps")
    parser.add_argument("--adapter-every", type=int, default=2)
    parser.add_argument("--adapter-steps", type=int, default=150)
    parser.add_argument("--prior-steps", type=int, default=1500, help="adapter fit on MP-20")
    parser.add_argument("--relax-steps", type=int, default=100, help="CHGNet relaxation steps")
    parser.add_argument("--cpus", type=int, default=2, help="Ray CPUs per campaign")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--out", type=Path, default=Path("campaigns/efficiency"))
    parser.add_argument("--analyze-only", action="store_true")
    args = parser.parse_args(argv)
    reference = load_reference("mp_20")
    if not args.analyze_only:
        try:
            for seed in args.seeds:
                for method in args.methods:
                    directory = args.out / f"{method}-seed{seed}"
                    run_campaign(method_config(method, seed, args), directory, reference)
        finally:
            ray.shutdown()
    results = analyze(args, reference)
    print(json.dumps(results, indent=2))
    (args.out / "efficiency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
