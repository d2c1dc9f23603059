"""What a round may label: :class:`Proposer`, generation and the filters.

The generator samples ``generator.num_candidates`` crystals as a Ray task (guided toward the
round's targets once adapters exist), or a screened dataset's known structures are drawn; the
filters then keep the valid, unique, not yet labeled and novel-as-generated ones with every
computed quantity defined (:func:`~matterloop.agent.campaign.candidates.filter_candidates`).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from pymatgen.core import Structure

from matterloop.agent.campaign.candidates import Candidates, filter_candidates
from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.distributed import (
    GenerationRequest,
    generate_structures,
    generation_device,
    remote_call,
)
from matterloop.agent.campaign.labeled import CampaignLabels, reference_set
from matterloop.agent.campaign.targets import generation_targets
from matterloop.generator.evaluation import ReferenceSet


class Proposer:
    """A round's candidates, from the generator (or a screened dataset) through the filters."""

    def __init__(self, config: CampaignConfig, labels: CampaignLabels) -> None:
        self.config = config
        self.labels = labels

    def propose(
        self, number: int, model: Path | None, adapted: bool
    ) -> tuple[Candidates, dict[str, Any]]:
        """The candidates of round ``number`` sampled from ``model`` (None: the shipped base),
        toward the round's targets when it is ``adapted``, and what happened (targets, model,
        sampler drops, the filter's report, seconds per stage)."""
        settings = self.config.generator
        seconds: dict[str, float] = {}
        targets = (
            generation_targets(
                settings.conditions,
                self.config.objectives,
                self.labels.table(),
                settings.target_step,
            )
            if adapted
            else {}
        )
        start = time.perf_counter()
        if settings.source == "generator":
            request = GenerationRequest(
                model,
                settings,
                targets,
                self.config.round_seed(number),
                self.config.known_structures,
                generation_device(self.config.ray),
                self.config.filters.max_atoms,
            )
            generated, dropped = remote_call(
                generate_structures, request, num_gpus=self.config.ray.generator_gpus
            )
            structures = [Structure.from_dict(s) for s in generated]
        else:
            structures, dropped, model = self.screened(number), 0, settings.source
        seconds["generation"] = time.perf_counter() - start
        start = time.perf_counter()
        evaluations, _ = self.labels.first_stage()
        candidates = filter_candidates(
            structures,
            [e.result.initial_structure for e in evaluations],
            self.config.computed,
            self.config.filters,
            self.novelty_reference(),
        )
        seconds["filter"] = time.perf_counter() - start
        details = {
            "targets": targets,
            "generator": str(model) if model else "shipped base model",
            "sampler_dropped": dropped,
            "filter": asdict(candidates.report),
            "seconds": seconds,
        }
        return candidates, details

    def screened(self, number: int) -> list[Structure]:
        """``num_candidates`` known structures of the screened dataset, drawn for round
        ``number``."""
        pool = reference_set(self.config.generator.source, self.config.filters.data_dir).structures
        rng = np.random.default_rng(self.config.round_seed(number))
        count = min(self.config.generator.num_candidates, len(pool))
        chosen = rng.choice(len(pool), size=count, replace=False)
        return [pool.structure(int(i)) for i in chosen]

    def novelty_reference(self) -> ReferenceSet | None:
        """The reference set generated candidates must be new against, or None."""
        filters = self.config.filters
        if filters.novelty_reference is None:
            return None
        return reference_set(filters.novelty_reference, filters.data_dir)
