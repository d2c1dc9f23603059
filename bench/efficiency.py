"""Discovery efficiency: matterloop against three baselines on the magnet-vs-HHI task, at equal
oracle budgets, over several seeds.

    python -m bench.efficiency [--rounds 4] [--q 6] [--candidates 48] [--steps 100] [--seeds 0 1 2]
                               [--prior-steps 1500] [--methods ...] [--learn-every 1]
                               [--out campaigns/efficiency] [--analyze-only]

Methods (all on ``configs/magnet_vs_hhi.yaml`` with the CHGNet oracle and the complete CHGNet hull
of all MP-20 entries, scaled down by the options above):

- ``matterloop``: guided generation (adapters fitted on MP-20's DFT magnetic densities and HHI
  before the first round, ``--prior-steps`` steps, then refitted every ``--adapter-every`` rounds;
  conditioned on magnetic density beyond the front and HHI < 1500) + surrogate (its
  magnetic-density head seeded with 1,000 MP-20 labels, ``surrogate.prior``) + qLogNEHVI after
  one round of random picks (the initial design, which gives the E_hull head its first labels);
- ``screening``: the same surrogate and acquisition over known MP-20 structures only (MatterGen's
  screening baseline; every pick is by definition not novel);
- ``random_generation``: random picks from unguided generation;
- ``guided_random``: guided generation (same adapters) without the surrogate/acquisition step:
  random picks;
- ``matterloop_learning`` (not run by default): ``matterloop`` whose generator also learns from
  its own labels every ``--learn-every`` rounds (``generator.learn_from_labels``, reward
  fine-tuning with its default settings).

Each campaign runs through the Python API in its own directory under ``--out``, one after the
other in this process (sharing the MP-20 reference); a rerun resumes unfinished campaigns and
skips finished ones. The analysis, from each campaign's label table (E_hull on the hull grown by
the campaign's results, novelty of the *relaxed* structures against the 20,666 MP-20 structures
and the campaign's earlier labels), prints per method: the hypervolume against oracle calls (mean
over seeds, and a plot) of all results and of the novel results only, the final values and their
ratios to the best baseline, how many results relaxed into known structures, and the
discoveries: stable (E_hull ≤ 0.1 eV/atom), unique and novel after relaxation with magnetic
density > 0.2 µB/Å³ and HHI < 1500, plus those that would count if a formula of an MP-20 entry
without positions were taken as novel (``formula_without_structure``, unproven).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import yaml
from matplotlib.figure import Figure

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.labels import KNOWN_NOVELTIES, novel_rows
from matterloop.agent.campaign.loop import Campaign
from matterloop.agent.campaign.pareto import hypervolume

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "magnet_vs_hhi.yaml"
METHODS = ("matterloop", "matterloop_learning", "screening", "random_generation", "guided_random")
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
    config["tracking"] = {"enabled": False}
    if method in ("screening", "random_generation"):
        config["adapters"] = {"every": 0}
        config["generator"]["conditions"] = {}
    if method == "matterloop_learning":
        config["generator"]["learn_from_labels"] = {"every": args.learn_every}
    if method == "screening":
        config["generator"]["source"] = "mp_20"
        config["filters"]["novelty_reference"] = None
    if method in ("random_generation", "guided_random"):
        config["acquisition"]["kind"] = "random"
    return config


def run_campaign(config: dict, directory: Path) -> None:
    """Run (or resume) one campaign in this process; all campaigns share one MP-20 reference
    (novelty filter, screening pool), read once
    (:func:`matterloop.agent.campaign.labeled.reference_set`)."""
    settings = CampaignConfig.model_validate({**config, "directory": directory})
    Campaign(settings, config).run()


def run_campaigns(
    out: Path, methods: list[str], seeds: list[int], config_of: Callable[[str, int], dict]
) -> None:
    """Run (or resume) the campaign of every method and seed, ``config_of(method, seed)``, each
    in ``out/<method>-seed<seed>``, one after the other in this process."""
    try:
        for seed in seeds:
            for method in methods:
                directory = out / f"{method}-seed{seed}"
                run_campaign(config_of(method, seed), directory)
    finally:
        ray.shutdown()


def campaign_table(directory: Path) -> tuple[pd.DataFrame, CampaignConfig]:
    """The label table of a campaign and its config."""
    config = CampaignConfig.model_validate(yaml.safe_load((directory / "config.yaml").read_text()))
    config = config.model_copy(update={"directory": directory})
    return Campaign(config, {}).table(), config


def history(table: pd.DataFrame, config: CampaignConfig, novel_only: bool) -> pd.Series:
    """Hypervolume after each round (of all results, or of the novel ones) by oracle calls."""
    points = {}
    for number in sorted(table["round"].unique()):
        until = table[table["round"] <= number]
        chosen = novel_rows(until) if novel_only else until
        points[len(until)] = hypervolume(chosen, config.objectives)
    return pd.Series(points)


def discoveries(table: pd.DataFrame) -> dict[str, int]:
    """Stable, unique, novel (after relaxation) results with magnetic density > 0.2 µB/Å³ and
    HHI < 1500 (``novel``); those whose formula is an MP-20 entry without positions, unproven
    either way (``formula_without_structure``); how many results were not new after relaxation
    (``known_results``: known, repeats and unproven formulas); and the campaign's hits."""
    wanted = (
        table["ok"]
        & table["stable"]
        & (table["magnetic_density"] > MAGNETIC_DENSITY_HIT)
        & (table["hhi_production"] < HHI_HIT)
    )
    return {
        "novel": int((wanted & table["novel"]).sum()),
        "formula_without_structure": int(
            (wanted & (table["novelty"] == "formula_without_structure")).sum()
        ),
        "known_results": int(table["novelty"].isin(KNOWN_NOVELTIES).sum()),
        "hits": int(table["hit"].sum()),
    }


def analyze(args: argparse.Namespace) -> dict:
    results: dict[str, dict] = {}
    fig = Figure(figsize=(9.6, 4.2), constrained_layout=True)
    all_axes, novel_axes = fig.subplots(1, 2, sharey=True)
    for method in args.methods:
        curves: dict[bool, list[pd.Series]] = {False: [], True: []}
        found = []
        for seed in args.seeds:
            table, config = campaign_table(args.out / f"{method}-seed{seed}")
            for novel_only in (False, True):
                curves[novel_only].append(history(table, config, novel_only))
            found.append(discoveries(table))
        summary: dict[str, object] = {"discoveries": found}
        for novel_only, axes in ((False, all_axes), (True, novel_axes)):
            curve = pd.concat(curves[novel_only], axis=1).sort_index().ffill()
            mean = curve.mean(axis=1)
            axes.plot(mean.index, mean.to_numpy(), marker="o", label=method)
            axes.fill_between(mean.index, curve.min(axis=1), curve.max(axis=1), alpha=0.15)
            key = "novel_" if novel_only else ""
            finals = [float(c.iloc[-1]) for c in curves[novel_only]]
            summary[f"{key}final_hypervolume"] = finals
            summary[f"{key}final_mean"] = float(np.mean(finals))
            summary[f"{key}curve_mean"] = mean.round(4).to_dict()
        results[method] = summary
    for axes, title in ((all_axes, "all results"), (novel_axes, "novel after relaxation")):
        axes.set_xlabel("oracle calls")
        axes.set_title(title)
        axes.legend()
    all_axes.set_ylabel("hypervolume (µB/Å³ × HHI)")
    fig.suptitle("magnetic density ↑ vs HHI ↓, E_hull ≤ 0.1 eV/atom (complete, growing hull)")
    figure = REPO / "bench" / "figures" / f"{args.out.name}.png"  # efficiency.png by default
    figure.parent.mkdir(exist_ok=True)
    fig.savefig(figure, dpi=120)
    baselines = [m for m in results if m != "matterloop"]
    baselines = [m for m in baselines if not m.startswith("matterloop")]
    if "matterloop" in results and baselines:
        for key in ("", "novel_"):
            best = max(results[m][f"{key}final_mean"] for m in baselines)
            ours = results["matterloop"][f"{key}final_mean"]
            results[f"{key}ratio_to_best_baseline"] = ours / best if best else float("inf")
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
    parser.add_argument(
        "--learn-every", type=int, default=1, help="matterloop_learning: reward fine-tuning"
    )
    parser.add_argument("--relax-steps", type=int, default=100, help="CHGNet relaxation steps")
    parser.add_argument("--cpus", type=int, default=2, help="Ray CPUs per campaign")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=[m for m in METHODS if m != "matterloop_learning"],
    )
    parser.add_argument("--out", type=Path, default=Path("campaigns/efficiency"))
    parser.add_argument("--analyze-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.analyze_only:
        config_of = functools.partial(method_config, args=args)
        run_campaigns(args.out, args.methods, args.seeds, config_of)
    results = analyze(args)
    print(json.dumps(results, indent=2))
    (args.out / "efficiency.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
