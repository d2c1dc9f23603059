"""When the generator learns from the campaign: :class:`RefitSchedule`.

- Adapters: fitted on the prior dataset before the first round (``adapters.prior``), then every
  ``adapters.every`` rounds on all labels (mixed with as many prior structures).
- The base network: every ``generator.learn_from_labels.every`` rounds, reward fine-tuned on the
  relaxed hits and near hits (:mod:`matterloop.generator.training.reward`); an adapted model keeps
  its adapters on the new base.

Each fit is a Ray task (on a GPU where ``ray.generator_gpus`` asks for one) that writes a model
file under ``models/``; the campaign's state records the latest, so a resume samples from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.distributed import (
    fit_adapters,
    generation_device,
    learn_generator,
    remote_call,
)
from matterloop.agent.campaign.store import CampaignState, CampaignStore
from matterloop.generator.training.reward import RewardWeights


class RefitSchedule:
    """The generator's model files over a campaign: which one a round samples, and the fits."""

    def __init__(self, config: CampaignConfig, store: CampaignStore, console: Console) -> None:
        self.config = config
        self.store = store
        self.console = console

    def generation_model(self, state: CampaignState) -> tuple[Path | None, bool]:
        """The model file a round samples (None: the shipped base) and whether it is adapted."""
        if state.adapter_model is not None:
            return self.store.root / state.adapter_model, True
        return self.base_model(state), False

    def base_model(self, state: CampaignState) -> Path | None:
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
        start, adapted = self.generation_model(state)
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
                "seed": self.config.round_seed(number),
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
