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

The campaign is made of parts, one job each: :class:`~matterloop.agent.campaign.proposer.Proposer`
(generation and filters), :class:`~matterloop.agent.campaign.selector.Selector` (the picks'
surrogate and acquisition), :class:`~matterloop.agent.campaign.labeled.CampaignLabels` (labeling on
Ray and the label tables), :class:`~matterloop.agent.campaign.screening.ScreenStage` (two
fidelities) and :class:`~matterloop.agent.campaign.schedule.RefitSchedule` (adapter and generator
fits); :class:`Campaign` runs them round after round and writes each round's summary.

With a ``screen`` (two fidelities) the picks go to the cheap screen first; among those that relax
to a novel structure, a cost-aware acquisition on
:class:`~matterloop.agent.campaign.fidelity.ScreenToOracle` chooses the expensive oracle's picks,
which it labels at the screen's relaxed geometry. The label table, fronts and hits are the expensive
oracle's; the picks' surrogate learns the screen's labels.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
from rich.console import Console

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.distributed import connect
from matterloop.agent.campaign.labeled import CampaignLabels
from matterloop.agent.campaign.labels import KNOWN_NOVELTIES, novel_rows
from matterloop.agent.campaign.pareto import front_mask, front_table, hypervolume, plot_fronts
from matterloop.agent.campaign.proposer import Proposer
from matterloop.agent.campaign.quantities import quantity
from matterloop.agent.campaign.schedule import RefitSchedule
from matterloop.agent.campaign.screening import ScreenStage
from matterloop.agent.campaign.selector import Selector
from matterloop.agent.campaign.store import CampaignState, CampaignStore, Pick
from matterloop.agent.campaign.summary import RoundSummary
from matterloop.agent.campaign.tracking import CampaignTracker
from matterloop.core.writer_lock import exclusive_writer
from matterloop.oracles.hull import ReferenceHull


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
        self.labels = CampaignLabels(config, self.store)
        self.proposer = Proposer(config, self.labels)
        self.selector = Selector(config, self.store, self.labels, self.console)
        self.screening = ScreenStage(config, self.store, self.labels, self.selector, self.console)
        self.schedule = RefitSchedule(config, self.store, self.console)
        self.tracker = CampaignTracker(config, self.store)

    @property
    def hull(self) -> ReferenceHull | None:
        """The reference hull of the campaign's stability (None: unknown)."""
        return self.labels.hull

    def table(self) -> pd.DataFrame:
        """The label table (:mod:`matterloop.agent.campaign.labels`) of the oracle's results."""
        return self.labels.table()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU-seconds spent by each fidelity so far (wall time times ``ray.oracle_cpus``)."""
        return self.labels.cpu_seconds()

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
                state.adapter_model = self.schedule.fit_prior_adapters(state)
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
            picks = self.screening.screen_and_choose(number, picks, stage_seconds)
        done = {e.id for e in self.store.evaluations()}
        pending = [(p.id, p.structure) for p in picks if p.id not in done]
        start = time.perf_counter()
        if pending:
            self.labels.label(number, pending, self.console)
        oracle_seconds = time.perf_counter() - start
        table = self.table()
        start = time.perf_counter()
        checkpoint = self.selector.refit_surrogate()
        refit_seconds = time.perf_counter() - start
        generator_model = self.schedule.maybe_learn(number, state, table)
        adapter_model = self.schedule.maybe_refit_adapters(number, state, table)
        summary = self.summarize(number, table, details, picks)
        summary.seconds = {
            **details.get("seconds", {}),
            **stage_seconds,
            "oracle": oracle_seconds,
            "surrogate_refit": refit_seconds,
        }
        if self.config.screen is not None:
            summary.fidelity = self.screening.fidelity_summary(number, table)
        summary.surrogate_checkpoint = checkpoint
        summary.adapter_model = adapter_model
        summary.generator_model = generator_model
        self.write_round_outputs(number, table)
        self.store.save_summary(summary)
        self.console.print(summary.line(), highlight=False, soft_wrap=True)

    def choose(self, number: int, state: CampaignState) -> tuple[list[Pick], dict[str, Any]]:
        """Generate, filter and score candidates; the picks of round ``number``."""
        model, adapted = self.schedule.generation_model(state)
        candidates, details = self.proposer.propose(number, model, adapted)
        start = time.perf_counter()
        picks, method = self.selector.acquire(number, candidates, len(self.store.evaluations()))
        details["seconds"]["acquisition"] = time.perf_counter() - start
        details["method"] = method
        return picks, details

    # ------------------------------------------------------------------------------ outputs
    def summarize(
        self, number: int, table: pd.DataFrame, details: dict[str, Any], picks: list[Pick]
    ) -> RoundSummary:
        this_round = table[table["round"] == number]
        evaluated = len(this_round)
        novel = novel_rows(table)
        return RoundSummary(
            round=number,
            method=details.get("method"),
            targets=details.get("targets", {}),
            candidates_generated=details.get("filter", {}).get("generated", 0),
            candidates_kept=details.get("filter", {}).get("kept", 0),
            sampler_dropped=details.get("sampler_dropped", 0),
            filter=details.get("filter", {}),
            picks=len(picks),
            evaluated=evaluated,
            oracle_failures=int((~this_round["ok"]).sum()),
            feasible_fraction=float(this_round["feasible"].mean()) if evaluated else 0.0,
            hit_rate=float(this_round["hit"].mean()) if evaluated else 0.0,
            total_oracle_calls=len(table),
            hits=int(table["hit"].sum()),
            novel_results=len(novel),
            known_results=int(table["novelty"].isin(KNOWN_NOVELTIES).sum()),
            stable_results=int(table["stable"].sum()),
            hypervolume=hypervolume(table, self.config.objectives),
            pareto_size=int(front_mask(table, self.config.objectives).sum()),
            novel_hypervolume=hypervolume(novel, self.config.objectives),
            novel_pareto_size=int(front_mask(novel, self.config.objectives).sum()),
        )

    def write_round_outputs(self, number: int, table: pd.DataFrame) -> None:
        directory = self.store.round_dir(number)
        directory.mkdir(parents=True, exist_ok=True)
        table.to_csv(directory / "labels.csv", index=False)
        front_table(table, self.config.objectives).to_csv(directory / "front.csv", index=False)
        units = [quantity(o.name).unit for o in self.config.objectives]
        plot_fronts(table, self.config.objectives, directory / "pareto.png", units)
