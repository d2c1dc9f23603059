"""A campaign's labels: :class:`CampaignLabels`.

Picks are labeled by the oracle (or the screen) as Ray tasks, and each result is persisted by the
store (``results.jsonl``, ``screen.jsonl``) as it returns, with the novelty of its relaxed
structure. The label tables (:mod:`matterloop.agent.campaign.labels`) are rebuilt once per new
result; this view also knows which quantities the screen settles in a two-fidelity campaign, and
what the picks' surrogate learns from. Reference sets are read once per process
(:func:`reference_set`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure
from rich.console import Console
from rich.progress import Progress

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.distributed import evaluate_on_ray
from matterloop.agent.campaign.labels import (
    campaign_hull,
    campaign_label_table,
    judge_novelty,
    label_table,
    stability_fidelity,
)
from matterloop.agent.campaign.store import CampaignStore
from matterloop.core.results_file import ResultRecord
from matterloop.generator.evaluation import ReferenceSet, load_reference


@functools.cache
def reference_set(name: str, data_dir: Path | None) -> ReferenceSet:
    """The structures of the dataset ``name`` (every split), read once per process."""
    return load_reference(name, data_dir)


class CampaignLabels:
    """The label tables of a campaign's oracle (and screen) results, rebuilt when results were
    added; E_hull is the screen's where the hull holds the screen's energies."""

    def __init__(self, config: CampaignConfig, store: CampaignStore) -> None:
        self.config = config
        self.store = store
        self.hull = campaign_hull(config)
        self.stability = stability_fidelity(config, self.hull)
        self.cached_table: tuple[tuple[int, int], pd.DataFrame] | None = None
        self.cached_screen_table: tuple[int, pd.DataFrame] | None = None

    def label(
        self,
        number: int,
        pending: Sequence[tuple[str, Structure]],
        console: Console,
        screen: bool = False,
    ) -> None:
        """Label the pending picks of round ``number`` with the oracle (or the screen) as Ray
        tasks, persisting each result as it returns with the novelty of its relaxed structure
        (against ``known_structures`` and the earlier results of the same fidelity)."""
        reference = self.known_structures()
        records = self.store.screenings() if screen else self.store.evaluations()
        earlier = [e.result.structure for e in records if e.result.ok]
        spec = self.config.screen if screen else self.config.oracle
        with (
            self.store.results_journal(screen) as journal,
            Progress(console=console, transient=True) as progress,
        ):
            task = progress.add_task(f"round {number}: {spec.name}", total=len(pending))
            for identifier, result in evaluate_on_ray(pending, spec, self.config.ray):
                novelty = judge_novelty(result, reference, earlier)
                self.store.record(journal, ResultRecord(identifier, result, number, novelty))
                if result.ok:
                    earlier.append(result.structure)
                progress.advance(task)

    def known_structures(self) -> ReferenceSet | None:
        """The reference set of ``known_structures``, or None."""
        if self.config.known_structures is None:
            return None
        return reference_set(self.config.known_structures, self.config.filters.data_dir)

    def table(self) -> pd.DataFrame:
        """The label table of the oracle's results."""
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
            self.cached_screen_table = (len(screenings), label_table(screenings, self.config, hull))
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

    def cpu_seconds(self) -> dict[str, float]:
        """CPU-seconds spent by each fidelity so far (wall time times ``ray.oracle_cpus``)."""
        cpus = self.config.ray.oracle_cpus
        spent = {"oracle": cpus * sum(e.result.wall_time_s for e in self.store.evaluations())}
        if self.config.screen is not None:
            spent["screen"] = cpus * sum(r.result.wall_time_s for r in self.store.screenings())
        return spent
