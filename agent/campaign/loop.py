"""The campaign loop: :class:`Campaign`.

One round (``DESIGN.md`` §1): generate candidates (guided toward targets beyond the current
Pareto front once adapters exist) → filter (valid, computed quantities defined, unique, not
labeled yet, novel as generated: a cheap pre-screen) → surrogate posteriors → BoTorch picks ``q``
→ the picks are saved, then evaluated by oracle actors on Ray, each result persisted as it returns
with the novelty of its *relaxed* structure (against ``known_structures`` and the earlier labels)
→ labels with E_hull on the hull grown by the campaign's results, Pareto fronts (all results, and
novel results only), hits and hypervolumes → surrogate refit → every ``adapters.every`` rounds an
adapter refit on all labels, and every ``generator.learn_from_labels.every`` rounds reward
fine-tuning of the generator on the relaxed hits and near hits → round summary, then MLflow.
The state on disk is enough to resume at any point (see :mod:`matterloop.agent.campaign.store`).

With a ``screen`` (two fidelities) the picks go to the cheap screen first; among those that relax
to a novel structure, a cost-aware acquisition on
:class:`~matterloop.agent.campaign.fidelity.ScreenToOracle` chooses the expensive oracle's picks,
which it labels at the screen's relaxed geometry. The label table, fronts and hits are the expensive
oracle's; the picks' surrogate learns the screen's labels.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure
from rich.console import Console
from rich.progress import Progress

from matterloop.agent.campaign.acquisition import acquisition_name, feature_model, select
from matterloop.agent.campaign.candidates import Candidates, filter_candidates
from matterloop.agent.campaign.config import CampaignConfig, SlowScreenWarning
from matterloop.agent.campaign.distributed import (
    connect,
    evaluate_on_ray,
    fit_adapters,
    generate_structures,
    generation_device,
    learn_generator,
    remote_call,
)
from matterloop.agent.campaign.fidelity import CostModel, ScreenToOracle
from matterloop.agent.campaign.labels import (
    KNOWN_NOVELTIES,
    campaign_hull,
    campaign_label_table,
    judge_novelty,
    label_table,
    novel_rows,
    stability_fidelity,
)
from matterloop.agent.campaign.pareto import front_mask, front_table, hypervolume, plot_fronts
from matterloop.agent.campaign.prior import prior_labels
from matterloop.agent.campaign.quantities import UndefinedQuantity, function_values, quantity
from matterloop.agent.campaign.store import CampaignState, CampaignStore, Pick
from matterloop.agent.campaign.targets import generation_targets
from matterloop.agent.campaign.tracking import CampaignTracker
from matterloop.core.results_file import ResultRecord
from matterloop.core.writer_lock import exclusive_writer
from matterloop.generator.evaluation import Novelty
from matterloop.generator.training.reward import RewardWeights
from matterloop.surrogates.network import load_network
from matterloop.surrogates.pretrained import default_network
from matterloop.surrogates.surrogate import Surrogate

ORACLE_STAGE = "oracle_picks"
"""Two fidelities: the stage name of the oracle's picks in a round's folder."""


class Campaign:
    """Runs (or resumes) the campaign of ``config`` in its directory.

    Args:
        config: the validated configuration.
        raw_config: the configuration as read from YAML, stored with the campaign (default: the
            whole of ``config`` but its directory).
        console: where progress and round lines go.
    """

    def __init__(
        self,
        config: CampaignConfig,
        raw_config: dict[str, Any] | None = None,
        console: Console | None = None,
    ) -> None:
        self.config = config
        self.raw_config = raw_config or config.model_dump(mode="json", exclude={"directory"})
        self.console = console or Console()
        self.store = CampaignStore(config.campaign_dir)
        self.hull = campaign_hull(config)
        self.stability = stability_fidelity(config, self.hull)
        self.reference = None
        self.known = None
        self.screening_pool = None
        self.cached_table: tuple[tuple[int, int], pd.DataFrame] | None = None
        self.cached_screen_table: tuple[int, pd.DataFrame] | None = None
        self.oracle_model: ScreenToOracle | None = None
        self.surrogate: Surrogate | None = None
        self.surrogate_ids: list[str] = []  # oracle-labeled rows, after the prior's rows
        self.prior_rows = 0
        self.tracker = CampaignTracker(config, self.store)

    # ----------------------------------------------------------------------------------- run
    def run(self) -> pd.DataFrame:
        """Run rounds until the budget is spent, as the campaign directory's one writer
        (:mod:`matterloop.core.writer_lock`); returns the label table.

        Raises:
            StoreLockedError: another live process runs this campaign (nothing is written).
        """
        with exclusive_writer(self.config.campaign_dir, directory=True):
            state = self.store.open(self.raw_config)
            self.repair_results()
            if state.next_round:
                self.console.print(
                    f"resuming {self.config.name} at round {state.next_round} "
                    f"({len(self.store.evaluations())} oracle results on disk)"
                )
            connect(self.config.ray)
            self.tracker.log_rounds(state)
            prior = self.config.adapters.prior
            if prior and state.adapter_model is None and not self.finished(state):
                state.adapter_model = self.fit_prior_adapters(state)
                self.store.save_state(state)
            while not self.finished(state):
                self.run_round(state)
                state.next_round += 1
                self.store.save_state(state)
                self.tracker.log_rounds(state)
            return self.table()

    def repair_results(self) -> None:
        """Make the results journal whole (:meth:`CampaignStore.repair`) and say what changed."""
        for line in self.store.repair():
            self.console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)

    def finished(self, state: CampaignState) -> bool:
        budget = self.config.budget
        if state.next_round >= budget.rounds:
            return True
        calls = len(self.store.evaluations())
        if budget.oracle_calls is not None and calls >= budget.oracle_calls:
            return True
        seconds = budget.oracle_cpu_seconds
        return seconds is not None and sum(self.cpu_seconds().values()) >= seconds

    def cpu_seconds(self) -> dict[str, float]:
        """CPU-seconds spent by each fidelity so far (wall time times ``ray.oracle_cpus``)."""
        cpus = self.config.ray.oracle_cpus
        spent = {"oracle": cpus * sum(e.result.wall_time_s for e in self.store.evaluations())}
        if self.config.screen is not None:
            spent["screen"] = cpus * sum(r.result.wall_time_s for r in self.store.screenings())
        return spent

    def table(self) -> pd.DataFrame:
        """The label table (:mod:`matterloop.agent.campaign.labels`) of the oracle's results,
        rebuilt when results were added; E_hull is the screen's where the hull holds the screen's
        energies."""
        evaluations = self.store.evaluations()
        screenings = self.store.screenings() if self.stability == "screen" else []
        key = (len(evaluations), len(screenings))
        if self.cached_table is None or self.cached_table[0] != key:
            table = campaign_label_table(self.config, self.hull, evaluations, screenings)
            self.cached_table = (key, table)
        return self.cached_table[1]

    def screen_table(self) -> pd.DataFrame:
        """The label table of the screen's results (two fidelities); E_hull only where the hull
        holds the screen's energies."""
        screenings = self.store.screenings()
        if self.cached_screen_table is None or self.cached_screen_table[0] != len(screenings):
            hull = self.hull if self.stability == "screen" else None
            self.cached_screen_table = (
                len(screenings),
                label_table(screenings, self.config, hull),
            )
        return self.cached_screen_table[1]

    def screen_knows(self, name: str) -> bool:
        """Whether a screened structure has the modelled quantity ``name`` from the screen."""
        if name == "e_above_hull":
            return self.stability == "screen"
        return self.config.screen_provides(name)

    def first_stage(self) -> tuple[list[ResultRecord], pd.DataFrame]:
        """The records the picks' surrogate learns from and their labels (indexed by id): the
        oracle's results; with a screen, the screened structures, labeled with the screen's
        values where it gives them and the oracle's elsewhere."""
        table = self.table().set_index("id")
        if self.config.screen is None:
            return self.store.evaluations(), table
        screen = self.screen_table().set_index("id")
        labels = pd.DataFrame(index=screen.index)
        for name in self.config.modelled:
            source = screen if self.screen_knows(name) else table
            labels[name] = source[name].reindex(screen.index)
        return self.store.screenings(), labels

    # --------------------------------------------------------------------------------- round
    def run_round(self, state: CampaignState) -> None:
        number = state.next_round
        picks = self.store.picks(number)
        if picks is None:
            picks, details = self.choose(number, state)
            self.store.save_picks(number, picks, details)
        details = self.store.round_details(number)
        stage_seconds: dict[str, float] = {}
        if self.config.screen is not None:
            picks = self.screen_and_choose(number, picks, stage_seconds)
        done = {e.id for e in self.store.evaluations()}
        pending = [(p.id, p.structure) for p in picks if p.id not in done]
        start = time.perf_counter()
        if pending:
            self.evaluate(number, pending)
        oracle_seconds = time.perf_counter() - start
        table = self.table()
        start = time.perf_counter()
        checkpoint = self.refit_surrogate()
        refit_seconds = time.perf_counter() - start
        generator_model = self.maybe_learn(number, state, table)
        adapter_model = self.maybe_refit_adapters(number, state, table)
        summary = self.summarize(number, table, details, picks)
        summary["seconds"] = {
            **details.get("seconds", {}),
            **stage_seconds,
            "oracle": oracle_seconds,
            "surrogate_refit": refit_seconds,
        }
        if self.config.screen is not None:
            summary["fidelity"] = self.fidelity_summary(number, table)
        summary["surrogate_checkpoint"] = checkpoint
        summary["adapter_model"] = adapter_model
        summary["generator_model"] = generator_model
        self.write_round_outputs(number, table)
        self.store.save_summary(number, summary)
        self.console.print(round_line(summary), highlight=False, soft_wrap=True)

    def evaluate(
        self, number: int, pending: Sequence[tuple[str, Structure]], screen: bool = False
    ) -> None:
        """Evaluate the pending picks with the oracle (or the screen) as Ray tasks, persisting
        each result as it returns with the novelty of its relaxed structure."""
        reference = self.known_structures()
        records = self.store.screenings() if screen else self.store.evaluations()
        earlier = [e.result.structure for e in records if e.result.ok]
        spec = self.config.screen if screen else self.config.oracle
        with (
            self.store.results_journal(screen) as journal,
            Progress(console=self.console, transient=True) as progress,
        ):
            task = progress.add_task(f"round {number}: {spec.name}", total=len(pending))
            for identifier, result in evaluate_on_ray(pending, spec, self.config.ray):
                novelty = judge_novelty(result, reference, earlier)
                self.store.record(journal, ResultRecord(identifier, result, number, novelty))
                if result.ok:
                    earlier.append(result.structure)
                progress.advance(task)

    # ----------------------------------------------------------------------- two fidelities
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
            self.evaluate(number, pending, screen=True)
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
            if self.surrogate is not None:  # the same frozen network: load it once
                network = self.surrogate.network
            else:
                network = load_network(self.config.surrogate.network or default_network())
            exact = [
                n for n in self.config.modelled if n == "e_above_hull" and self.screen_knows(n)
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
                self.screen_table().set_index("id").loc[ids],
                self.table().set_index("id").loc[ids],
            )
            model.refit(self.config.acquisition.initial_labels)
        return model

    def oracle_features(
        self, model: ScreenToOracle, ids: Sequence[str], structures: Sequence[Structure]
    ) -> torch.Tensor:
        """Features (:mod:`matterloop.agent.campaign.fidelity`) of screened structures by id."""
        rows = self.screen_table().set_index("id").loc[list(ids)]
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
        rows = self.screen_table().set_index("id")
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
            rng = np.random.default_rng(self.config.seed * 100_003 + number + 1)
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
        left = budget - sum(self.cpu_seconds().values())
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
        spent = self.cpu_seconds()
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

    # ------------------------------------------------------------------------------- choose
    def choose(self, number: int, state: CampaignState) -> tuple[list[Pick], dict[str, Any]]:
        """Generate, filter and score candidates; the picks of round ``number``."""
        settings = self.config.generator
        seconds: dict[str, float] = {}
        table = self.table()
        adapted = state.adapter_model is not None
        targets = (
            generation_targets(
                settings.conditions, self.config.objectives, table, settings.target_step
            )
            if adapted
            else {}
        )
        start = time.perf_counter()
        model = self.store.root / state.adapter_model if adapted else self.base_model(state)
        if settings.source == "generator":
            generated, dropped = remote_call(
                generate_structures,
                model,
                settings.num_candidates,
                settings.steps,
                targets,
                settings.guidance,
                settings.batch_size,
                self.config.seed * 100_003 + number,
                settings.type_temperature,
                settings.elements,
                wyckoff=settings.wyckoff,
                compositions_first=settings.compositions_first,
                known_dataset=self.config.known_structures,
                device=generation_device(self.config.ray),
                max_atoms=self.config.filters.max_atoms,
                num_gpus=self.config.ray.generator_gpus,
            )
            structures = [Structure.from_dict(s) for s in generated]
        else:
            structures, dropped, model = self.screened(number), 0, settings.source
        seconds["generation"] = time.perf_counter() - start
        start = time.perf_counter()
        evaluations, _ = self.first_stage()
        candidates = filter_candidates(
            structures,
            [e.result.initial_structure for e in evaluations],
            self.config.computed,
            self.config.filters,
            self.novelty_reference(),
        )
        seconds["filter"] = time.perf_counter() - start
        start = time.perf_counter()
        picks, method = self.acquire(number, candidates, len(self.store.evaluations()))
        seconds["acquisition"] = time.perf_counter() - start
        details = {
            "targets": targets,
            "generator": str(model) if model else "shipped base model",
            "sampler_dropped": dropped,
            "filter": asdict(candidates.report),
            "method": method,
            "seconds": seconds,
        }
        return picks, details

    def screened(self, number: int) -> list[Structure]:
        """``num_candidates`` known structures of the screened dataset, drawn for round
        ``number``."""
        from matterloop.generator.evaluation import load_reference

        if self.screening_pool is None:
            source = self.config.generator.source
            self.screening_pool = load_reference(source, self.config.filters.data_dir).structures
        rng = np.random.default_rng(self.config.seed * 100_003 + number)
        count = min(self.config.generator.num_candidates, len(self.screening_pool))
        chosen = rng.choice(len(self.screening_pool), size=count, replace=False)
        return [self.screening_pool.structure(int(i)) for i in chosen]

    def known_structures(self):
        """The reference set of ``known_structures`` (loaded once), or None."""
        if self.config.known_structures is None:
            return None
        if self.known is None:
            from matterloop.generator.evaluation import load_reference

            self.known = load_reference(self.config.known_structures, self.config.filters.data_dir)
        return self.known

    def novelty_reference(self):
        filters = self.config.filters
        if filters.novelty_reference is None:
            return None
        if self.reference is None:
            from matterloop.generator.evaluation import load_reference

            self.reference = load_reference(filters.novelty_reference, filters.data_dir)
        return self.reference

    def acquire(
        self, number: int, candidates: Candidates, num_evaluated: int
    ) -> tuple[list[Pick], str]:
        """The picks among ``candidates``: BoTorch once every modelled quantity has enough
        labels (the prior dataset's included), random (the initial design) before."""
        acquisition = self.config.acquisition
        q = acquisition.q if self.config.screen is None else self.config.fidelity.screened
        if self.config.budget.oracle_calls is not None and self.config.screen is None:
            q = min(q, self.config.budget.oracle_calls - num_evaluated)
        structures = candidates.structures
        if not structures or q <= 0:
            return [], "none"
        self.refit_surrogate()
        ready = self.surrogate is not None and self.surrogate.gps
        if acquisition.kind == "random" or not ready:
            rng = np.random.default_rng(self.config.seed * 100_003 + number)
            chosen = rng.choice(len(structures), size=min(q, len(structures)), replace=False)
            picks = [Pick(f"r{number:04d}-{i:02d}", structures[j]) for i, j in enumerate(chosen)]
            return picks, "random" if acquisition.kind == "random" else "initial design"
        features = self.features(self.surrogate.embed(structures), candidates.values)
        outputs = [*self.config.modelled, *self.config.computed]
        model = feature_model(
            self.surrogate.gps, self.surrogate.embeddings.shape[-1], len(self.config.computed)
        )
        chosen, _ = select(
            model,
            features,
            self.baseline_features(),
            self.config.objectives,
            self.config.constraints,
            outputs,
            q,
            acquisition.mc_samples,
            self.config.seed + number,
        )
        mean, std = self.surrogate.predict(features[chosen])
        picks = [
            Pick(
                f"r{number:04d}-{i:02d}",
                structures[j],
                dict(zip(self.config.modelled, mean[i].tolist(), strict=True)),
                dict(zip(self.config.modelled, std[i].tolist(), strict=True)),
            )
            for i, j in enumerate(chosen)
        ]
        return picks, acquisition_name(self.config.objectives)

    # ---------------------------------------------------------------------------- surrogate
    def build_surrogate(self) -> Surrogate:
        """A surrogate without fitted heads, holding the prior dataset's labels if any."""
        settings = self.config.surrogate
        network = load_network(settings.network or default_network())
        surrogate = Surrogate(network, self.config.modelled, settings.head)
        if settings.prior is not None:
            structures, labels = prior_labels(
                settings.prior,
                self.config.modelled,
                settings.prior_labels,
                self.config.seed,
                self.config.filters.data_dir,
                settings.prior_quantities,
            )
            self.console.print(
                f"surrogate: {len(structures)} labeled {settings.prior} structures join the heads"
            )
            surrogate.add_embedded(surrogate.embed(structures), torch.as_tensor(labels))
            self.prior_rows = len(structures)
        return surrogate

    def features(self, embedding: torch.Tensor, computed: dict[str, list[float]]) -> torch.Tensor:
        """``(n, d + k)`` features: the ``(n, d)`` embedding, then the computed quantities."""
        columns = [
            torch.tensor(computed[name], dtype=torch.double) for name in self.config.computed
        ]
        return torch.cat([embedding, *(c.unsqueeze(-1) for c in columns)], dim=-1)

    def baseline_features(self) -> torch.Tensor:
        """Features of the labeled structures (as generated, before relaxation); rows with an
        undefined computed quantity are left out."""
        evaluations = {e.id: e for e in self.first_stage()[0]}
        computed: dict[str, list[float]] = {name: [] for name in self.config.computed}
        for identifier in self.surrogate_ids:
            structure = evaluations[identifier].result.initial_structure
            for name in self.config.computed:
                try:
                    computed[name].append(function_values(structure, [name])[name])
                except UndefinedQuantity:
                    computed[name].append(float("nan"))
        features = self.features(self.surrogate.embeddings[self.prior_rows :], computed)
        return features[~features.isnan().any(dim=-1)]

    def refit_surrogate(self) -> str | None:
        """Add the labels the surrogate has not seen and refit its heads once every modelled
        quantity has ``acquisition.initial_labels`` labels; returns the checkpoint folder
        (relative to the campaign directory), or None before the first fit."""
        if self.surrogate is None:
            self.surrogate = self.build_surrogate()
        records, table = self.first_stage()
        seen = set(self.surrogate_ids)
        evaluations = [e for e in records if e.id not in seen]
        if evaluations:
            labels = table.loc[[e.id for e in evaluations], self.config.modelled]
            embedding = self.surrogate.embed([e.result.initial_structure for e in evaluations])
            self.surrogate.add_embedded(embedding, torch.tensor(labels.to_numpy(dtype=float)))
            self.surrogate_ids += [e.id for e in evaluations]
        counts = (~self.surrogate.labels.isnan()).sum(dim=0)
        if len(counts) == 0 or int(counts.min()) < self.config.acquisition.initial_labels:
            return None
        if evaluations or not self.surrogate.gps:
            self.surrogate.refit()
            self.surrogate.save(self.store.models_dir / "surrogate")
        return "models/surrogate"

    # ---------------------------------------------------------------------------- generator
    def base_model(self, state: CampaignState):
        """The base model file (None: the shipped one): the campaign's latest reward fine-tuned
        base, else ``generator.checkpoint``."""
        if state.generator_model is not None:
            return self.store.root / state.generator_model
        return self.config.generator.checkpoint

    def maybe_learn(self, number: int, state: CampaignState, table: pd.DataFrame) -> str | None:
        """Reward fine-tuning of the generator on all results when due (and when at least
        ``min_rewarded`` are rewarded); returns the new model's path. With adapters, the adapted
        model gets the new base and keeps its adapters; else the base is replaced."""
        settings = self.config.generator.learn_from_labels
        if not settings.every or (number + 1) % settings.every:
            return None
        weights = RewardWeights(settings.hit_weight, settings.near_hit_weight, settings.near_e_hull)
        labeled = table[table["ok"]]
        rewards = [
            weights.of(hit=bool(row.hit), novel=bool(row.novel), e_above_hull=row.e_above_hull)
            for row in labeled.itertuples()
        ]
        rewarded = sum(r > 0 for r in rewards)
        if rewarded < settings.min_rewarded:
            self.console.print(
                f"generator: {rewarded} rewarded result(s), fewer than "
                f"learn_from_labels.min_rewarded {settings.min_rewarded}; not fine-tuned yet"
            )
            return None
        evaluations = {e.id: e for e in self.store.evaluations()}
        adapted = state.adapter_model is not None
        start = self.store.root / state.adapter_model if adapted else self.base_model(state)
        relative = f"models/generator_r{number:04d}.pt"
        remote_call(
            learn_generator,
            start,
            [evaluations[i].result.structure.as_dict() for i in labeled["id"]],
            rewards,
            self.store.root / relative,
            {
                "steps": settings.steps,
                "batch_size": settings.batch_size,
                "lr": settings.lr,
                "replay_fraction": settings.replay_fraction,
                "seed": self.config.seed * 100_003 + number,
                "device": generation_device(self.config.ray),
            },
            self.config.known_structures or "mp_20",
            self.config.filters.data_dir,
            num_gpus=self.config.ray.generator_gpus,
        )
        self.console.print(f"generator: fine-tuned on {rewarded} rewarded result(s)")
        if adapted:
            state.adapter_model = relative
        else:
            state.generator_model = relative
        return relative

    # ----------------------------------------------------------------------------- adapters
    def fit_prior_adapters(self, state: CampaignState) -> str:
        """Fine-tune adapters on the prior dataset alone, before the first round; returns the
        model's path relative to the campaign directory."""
        settings = self.config.adapters
        self.console.print(
            f"fitting adapters for {', '.join(settings.properties)} on {settings.prior} "
            f"({settings.prior_steps} steps)"
        )
        return self.fit_adapters(
            state,
            "models/adapters_prior.pt",
            [],
            {},
            settings.prior_steps,
            None,
            prior_count=settings.prior_structures,
        )

    def maybe_refit_adapters(
        self, number: int, state: CampaignState, table: pd.DataFrame
    ) -> str | None:
        """Fine-tune the adapters on all labels (mixed with as many prior structures, if any)
        when due; returns the new model's path."""
        settings = self.config.adapters
        if not settings.every or (number + 1) % settings.every:
            return None
        labeled = table[table["ok"]]
        if len(labeled) < settings.min_labels:
            return None
        evaluations = {e.id: e for e in self.store.evaluations()}
        structures = [evaluations[i].result.structure.as_dict() for i in labeled["id"]]
        labels = {
            name: labeled[name].astype(float).tolist()
            for name in settings.properties
            if name in labeled.columns
        }
        state.adapter_model = self.fit_adapters(
            state,
            f"models/adapters_r{number:04d}.pt",
            structures,
            labels,
            settings.steps,
            state.adapter_model,
            seed=self.config.seed + number,
        )
        return state.adapter_model

    def fit_adapters(
        self,
        state: CampaignState,
        relative: str,
        structures: list[dict[str, Any]],
        labels: dict[str, list[float]],
        steps: int,
        init_from: str | None,
        seed: int | None = None,
        prior_count: int | None = None,
    ) -> str:
        """Fine-tune adapters (as a Ray task) on ``structures`` joined with structures of the
        prior dataset, if any: ``prior_count`` of them (default: as many as ``structures``, all
        when there are none); returns ``relative``, where the model was written."""
        settings = self.config.adapters
        remote_call(
            fit_adapters,
            self.base_model(state),
            structures,
            labels,
            list(settings.properties),
            self.store.root / relative,
            steps,
            self.config.seed if seed is None else seed,
            self.store.root / init_from if init_from else None,
            settings.prior,
            prior_count or len(structures) or None,
            self.config.filters.data_dir,
            device=generation_device(self.config.ray),
            num_gpus=self.config.ray.generator_gpus,
        )
        return relative

    # ------------------------------------------------------------------------------ outputs
    def summarize(
        self, number: int, table: pd.DataFrame, details: dict[str, Any], picks: list[Pick]
    ) -> dict[str, Any]:
        this_round = table[table["round"] == number]
        evaluated = len(this_round)
        novel = novel_rows(table)
        return {
            "round": number,
            "method": details.get("method"),
            "targets": details.get("targets", {}),
            "candidates_generated": details.get("filter", {}).get("generated", 0),
            "candidates_kept": details.get("filter", {}).get("kept", 0),
            "sampler_dropped": details.get("sampler_dropped", 0),
            "filter": details.get("filter", {}),
            "picks": len(picks),
            "evaluated": evaluated,
            "oracle_failures": int((~this_round["ok"]).sum()),
            "feasible_fraction": float(this_round["feasible"].mean()) if evaluated else 0.0,
            "hit_rate": float(this_round["hit"].mean()) if evaluated else 0.0,
            "total_oracle_calls": len(table),
            "hits": int(table["hit"].sum()),
            "novel_results": len(novel),
            "known_results": int(table["novelty"].isin(KNOWN_NOVELTIES).sum()),
            "stable_results": int(table["stable"].sum()),
            "hypervolume": hypervolume(table, self.config.objectives),
            "pareto_size": int(front_mask(table, self.config.objectives).sum()),
            "novel_hypervolume": hypervolume(novel, self.config.objectives),
            "novel_pareto_size": int(front_mask(novel, self.config.objectives).sum()),
        }

    def write_round_outputs(self, number: int, table: pd.DataFrame) -> None:
        directory = self.store.round_dir(number)
        directory.mkdir(parents=True, exist_ok=True)
        table.to_csv(directory / "labels.csv", index=False)
        front_table(table, self.config.objectives).to_csv(directory / "front.csv", index=False)
        units = [quantity(o.name).unit for o in self.config.objectives]
        plot_fronts(table, self.config.objectives, directory / "pareto.png", units)


def round_line(summary: dict[str, Any]) -> str:
    """One line per finished round for the console."""
    fidelity = summary.get("fidelity")
    screened = (
        f"{fidelity['screened']} screened, {fidelity['eligible']} eligible, "
        f"{fidelity['sent_to_oracle']} to the oracle ({fidelity['method']}), "
        if fidelity
        else ""
    )
    return (
        f"round {summary['round']}: {summary['candidates_generated']} generated, "
        f"{summary['candidates_kept']} kept, {screened}{summary['evaluated']} evaluated "
        f"({summary['method']}), {summary['oracle_failures']} failed; "
        f"{summary['hits']} hit(s) so far, {summary['known_results']} known after relaxation; "
        f"hypervolume {summary['hypervolume']:.4g} "
        f"(novel only {summary['novel_hypervolume']:.4g}); "
        f"front {summary['pareto_size']}"
    )
