"""Two fidelities in a round: :class:`ScreenStage`.

The round's picks go to the cheap screen first (relaxed as Ray tasks, each result persisted as it
returns). Of those that relaxed to a novel structure with every screened quantity defined and
every constraint on a quantity the screen settles met (E_hull on the screen's hull, computed
quantities), a cost-aware acquisition on
:class:`~matterloop.agent.campaign.fidelity.ScreenToOracle` chooses the expensive oracle's picks,
which it labels at the screen's relaxed geometry; the choice is saved (``oracle_picks``) before the
oracle's first call, so a resume repeats nothing.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure
from rich.console import Console

from matterloop.agent.campaign.acquisition import acquisition_name, select
from matterloop.agent.campaign.config import CampaignConfig, SlowScreenWarning
from matterloop.agent.campaign.fidelity import CostModel, ScreenToOracle
from matterloop.agent.campaign.labeled import CampaignLabels
from matterloop.agent.campaign.selector import Selector
from matterloop.agent.campaign.store import CampaignStore, Pick
from matterloop.generator.evaluation import Novelty
from matterloop.surrogates.network import load_network
from matterloop.surrogates.pretrained import default_network

ORACLE_STAGE = "oracle_picks"
"""The stage name of the oracle's picks in a round's folder."""


class ScreenStage:
    """The screen's relaxations of a round's picks and the oracle's choice among them."""

    def __init__(
        self,
        config: CampaignConfig,
        store: CampaignStore,
        labels: CampaignLabels,
        selector: Selector,
        console: Console,
    ) -> None:
        self.config = config
        self.store = store
        self.labels = labels
        self.selector = selector
        self.console = console
        self.oracle_model: ScreenToOracle | None = None

    def screen_and_choose(
        self, number: int, picks: list[Pick], seconds: dict[str, float]
    ) -> list[Pick]:
        """Relax the round's picks with the screen (those not screened yet), then choose the
        oracle's picks among them (once: the choice is saved before the oracle's first call);
        adds the stages' wall times to ``seconds``."""
        done = {r.id for r in self.store.screenings()}
        pending = [(p.id, p.structure) for p in picks if p.id not in done]
        start = time.perf_counter()
        if pending:
            self.labels.label(number, pending, self.console, screen=True)
        seconds["screen"] = time.perf_counter() - start
        chosen = self.store.picks(number, ORACLE_STAGE)
        if chosen is None:
            start = time.perf_counter()
            chosen, details = self.choose_for_oracle(number, picks)
            details["seconds"] = {"oracle_acquisition": time.perf_counter() - start}
            self.store.save_picks(number, chosen, details, ORACLE_STAGE)
        seconds.update(self.store.round_details(number, ORACLE_STAGE).get("seconds", {}))
        return chosen

    def cost_models(self) -> dict[str, CostModel]:
        """CPU-seconds per result of each fidelity against its atom count, from the campaign's
        own results (:class:`~matterloop.agent.campaign.fidelity.CostModel`)."""
        settings, cpus = self.config.fidelity, self.config.ray.oracle_cpus
        models = {}
        for fidelity, records, assumed in (
            ("screen", self.store.screenings(), settings.screen_cost_s),
            ("oracle", self.store.evaluations(), settings.oracle_cost_s),
        ):
            timed = [r for r in records if r.result.ok]
            models[fidelity] = CostModel.fit(
                [len(r.result.initial_structure) for r in timed],
                [cpus * r.result.wall_time_s for r in timed],
                assumed,
                settings.min_timings,
            )
        return models

    def refit_oracle_model(self) -> ScreenToOracle:
        """The model of the oracle's quantities on screened structures, with every oracle label
        the campaign has (refitted when labels were added)."""
        if self.oracle_model is None:
            surrogate = self.selector.surrogate
            if surrogate is not None:  # the same frozen network: load it once
                network = surrogate.network
            else:
                network = load_network(self.config.surrogate.network or default_network())
            exact = [
                n
                for n in self.config.modelled
                if n == "e_above_hull" and self.labels.screen_knows(n)
            ]
            self.oracle_model = ScreenToOracle.build(network, self.config, exact)
        model = self.oracle_model
        seen = set(model.ids)
        new = [e for e in self.store.evaluations() if e.result.ok and e.id not in seen]
        if new:
            ids = [e.id for e in new]
            model.add(
                ids,
                [e.result.initial_structure for e in new],
                self.labels.screen_table().set_index("id").loc[ids],
                self.labels.table().set_index("id").loc[ids],
            )
            model.refit(self.config.acquisition.initial_labels)
        return model

    def oracle_features(
        self, model: ScreenToOracle, ids: Sequence[str], structures: Sequence[Structure]
    ) -> torch.Tensor:
        """Features (:mod:`matterloop.agent.campaign.fidelity`) of screened structures by id."""
        rows = self.labels.screen_table().set_index("id").loc[list(ids)]
        computed = {name: rows[name].tolist() for name in self.config.computed}
        return model.features(structures, rows, computed)

    def choose_for_oracle(self, number: int, picks: list[Pick]) -> tuple[list[Pick], dict]:
        """The oracle's picks of round ``number`` among its screened picks: those that relaxed
        to a novel structure with every screened quantity defined and every constraint on a
        quantity known once screened met (E_hull from the screen's hull, computed quantities),
        chosen by the cost-aware
        acquisition on :class:`~matterloop.agent.campaign.fidelity.ScreenToOracle` (at random before
        it can score them), within the budgets of calls and CPU-seconds."""
        screened = {r.id: r for r in self.store.screenings() if r.round == number}
        rows = self.labels.screen_table().set_index("id")
        labeled = {e.id for e in self.store.evaluations()}
        model = self.refit_oracle_model()
        known = [*model.transferred, *model.exact, *self.config.computed]
        settled = [
            c for c in self.config.constraints if c.name in [*model.exact, *self.config.computed]
        ]
        counts = {
            "screened": len(screened),
            "screen_failed": 0,
            "not_novel": 0,
            "undefined": 0,
            "infeasible": 0,
        }
        eligible = []
        for pick in picks:
            record = screened.get(pick.id)
            if record is None or pick.id in labeled:
                continue
            if not record.result.ok:
                counts["screen_failed"] += 1
            elif record.novelty != Novelty.NOVEL.value:
                counts["not_novel"] += 1
            elif rows.loc[pick.id, known].isna().any():
                counts["undefined"] += 1
            elif not all(c.satisfied(rows.loc[pick.id, c.name]) for c in settled):
                counts["infeasible"] += 1
            else:
                eligible.append(record)
        counts["eligible"] = len(eligible)
        q = min(self.config.acquisition.q, len(eligible))
        if self.config.budget.oracle_calls is not None:
            q = min(q, self.config.budget.oracle_calls - len(labeled))
        if q <= 0:
            return [], {"method": "none", "counts": counts}
        ids = [r.id for r in eligible]
        structures = [r.result.structure for r in eligible]
        cost = self.cost_models()["oracle"].predict([len(s) for s in structures])
        features = self.oracle_features(model, ids, structures)
        if self.config.acquisition.kind == "random" or not model.usable:
            rng = np.random.default_rng(self.config.round_seed(number) + 1)
            chosen = [int(i) for i in rng.choice(len(eligible), size=q, replace=False)]
            method = "random" if self.config.acquisition.kind == "random" else "initial design"
        else:
            botorch_model, outputs, offsets = model.model(features.shape[-1])
            labeled_ok = [e for e in self.store.evaluations() if e.result.ok]
            baseline = features[:0]
            if labeled_ok:
                baseline = self.oracle_features(
                    model,
                    [e.id for e in labeled_ok],
                    [e.result.initial_structure for e in labeled_ok],
                )
            chosen, _ = select(
                botorch_model,
                features,
                baseline[~baseline.isnan().any(dim=-1)],
                self.config.objectives,
                self.config.constraints,
                outputs,
                q,
                self.config.acquisition.mc_samples,
                self.config.seed + number,
                offsets,
                torch.log(torch.as_tensor(cost, dtype=torch.double)),
            )
            method = f"{acquisition_name(self.config.objectives)} per CPU-s"
        chosen = self.within_cpu_budget(chosen, cost)
        mean, std = model.predict(features[chosen]) if chosen else ({}, {})
        oracle_picks = [
            Pick(
                ids[j],
                structures[j],
                {name: values[i] for name, values in mean.items()},
                {name: values[i] for name, values in std.items()},
            )
            for i, j in enumerate(chosen)
        ]
        details = {
            "method": method,
            "counts": counts,
            "predicted_cost_s": [float(cost[j]) for j in chosen],
            "screen_values": {
                ids[j]: {n: float(rows.loc[ids[j], n]) for n in model.transferred} for j in chosen
            },
        }
        return oracle_picks, details

    def within_cpu_budget(self, chosen: list[int], cost: np.ndarray) -> list[int]:
        """The leading picks whose predicted costs fit the CPU-seconds left (at least one)."""
        budget = self.config.budget.oracle_cpu_seconds
        if budget is None or not chosen:
            return chosen
        left = budget - sum(self.labels.cpu_seconds().values())
        total = np.cumsum([cost[j] for j in chosen])
        return chosen[: max(1, int((total <= left).sum()))]

    def fidelity_summary(self, number: int, table: pd.DataFrame) -> dict[str, Any]:
        """What the round's two fidelities did: counts, CPU-seconds and costs per fidelity, and
        how well the screen alone and the multi-fidelity model predicted the oracle's values of
        this round's picks (mean absolute errors, before the labels were added)."""
        details = self.store.round_details(number, ORACLE_STAGE)
        picks = self.store.picks(number, ORACLE_STAGE) or []
        rows = table.set_index("id")
        costs = self.cost_models()
        errors: dict[str, dict[str, float]] = {}
        screened = details.get("screen_values", {})
        names = sorted({name for values in screened.values() for name in values})
        for name in names:
            screen, predicted, truth = [], [], []
            for pick in picks:
                value = rows[name].get(pick.id, math.nan)
                if pick.id in screened and not math.isnan(value):
                    screen.append(screened[pick.id][name])
                    predicted.append(pick.predicted_mean[name])
                    truth.append(value)
            if truth:
                errors[name] = {
                    "mae_screen": float(np.mean(np.abs(np.subtract(screen, truth)))),
                    "mae_model": float(np.mean(np.abs(np.subtract(predicted, truth)))),
                    "count": len(truth),
                }
        spent = self.labels.cpu_seconds()
        summary = {
            "method": details.get("method"),
            **details.get("counts", {}),
            "sent_to_oracle": len(picks),
            "cpu_seconds": spent,
            "cost_exponent": {f: c.exponent for f, c in costs.items()},
            "cost_s_per_atom": {f: c.prefactor for f, c in costs.items()},
            "errors": errors,
        }
        screen_cost, oracle_cost = (
            spent["screen"] / max(1, len(self.store.screenings())),
            spent["oracle"] / max(1, len(self.store.evaluations())),
        )
        if costs["oracle"].measured and screen_cost >= oracle_cost:
            warnings.warn(
                f"the screen ({self.config.screen.name}) took {screen_cost:.3g} CPU-s per "
                f"structure, the oracle ({self.config.oracle.name}) {oracle_cost:.3g}: "
                "screening costs more than it saves",
                SlowScreenWarning,
                stacklevel=2,
            )
        return summary
