"""Which candidates a round labels: :class:`Selector`, the picks' surrogate and acquisition.

The surrogate (MatGL embeddings with a GP head per modelled quantity, the prior dataset's labels
included, and a column per computed quantity) learns every new label before a round chooses;
BoTorch's qLogNEHVI (qLogNEI with one objective) then picks ``acquisition.q`` candidates
(``fidelity.screened`` with a screen) with the surrogate's own model on its ``(n, d + k)``
features, the embedding followed by the computed quantities. Before every modelled quantity has
``acquisition.initial_labels`` labels the picks are drawn at random (the initial design).
"""

from __future__ import annotations

import numpy as np
import torch
from rich.console import Console

from matterloop.agent.campaign.acquisition import acquisition_name, select
from matterloop.agent.campaign.candidates import Candidates
from matterloop.agent.campaign.config import CampaignConfig
from matterloop.agent.campaign.labeled import CampaignLabels
from matterloop.agent.campaign.prior import prior_labels
from matterloop.agent.campaign.store import CampaignStore, Pick
from matterloop.surrogates.network import load_network
from matterloop.surrogates.pretrained import default_network
from matterloop.surrogates.surrogate import Surrogate


class Selector:
    """The picks' surrogate (built on first use) and the acquisition over a round's candidates."""

    def __init__(
        self,
        config: CampaignConfig,
        store: CampaignStore,
        labels: CampaignLabels,
        console: Console,
    ) -> None:
        self.config = config
        self.store = store
        self.labels = labels
        self.console = console
        self.surrogate: Surrogate | None = None
        self.surrogate_ids: list[str] = []  # labeled rows (as generated), after the prior's rows
        self.prior_rows = 0

    def acquire(
        self, number: int, candidates: Candidates, num_evaluated: int
    ) -> tuple[list[Pick], str]:
        """The picks of round ``number`` among ``candidates`` and how they were chosen: BoTorch
        once every modelled quantity has enough labels (the prior dataset's included), random
        (the initial design) before."""
        acquisition = self.config.acquisition
        q = acquisition.q if self.config.screen is None else self.config.fidelity.screened
        if self.config.budget.oracle_calls is not None and self.config.screen is None:
            q = min(q, self.config.budget.oracle_calls - num_evaluated)
        structures = candidates.structures
        if not structures or q <= 0:
            return [], "none"
        self.refit_surrogate()
        surrogate = self.surrogate
        if acquisition.kind == "random" or surrogate is None or not surrogate.fitted:
            rng = np.random.default_rng(self.config.round_seed(number))
            chosen = rng.choice(len(structures), size=min(q, len(structures)), replace=False)
            picks = [Pick(f"r{number:04d}-{i:02d}", structures[j]) for i, j in enumerate(chosen)]
            return picks, "random" if acquisition.kind == "random" else "initial design"
        features = surrogate.features(structures, candidates.values)
        chosen, _ = select(
            surrogate.model,
            features,
            surrogate.labeled_features(start=self.prior_rows),
            self.config.objectives,
            self.config.constraints,
            surrogate.output_names,
            q,
            acquisition.mc_samples,
            self.config.seed + number,
        )
        mean, std = surrogate.predict(features[chosen])
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

    def build_surrogate(self) -> Surrogate:
        """A surrogate without fitted heads, holding the prior dataset's labels if any."""
        settings = self.config.surrogate
        network = load_network(settings.network or default_network())
        surrogate = Surrogate(network, self.config.modelled, settings.head, self.config.computed)
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
            surrogate.add_embedded(surrogate.embed(structures), torch.as_tensor(labels), structures)
            self.prior_rows = len(structures)
        return surrogate

    def refit_surrogate(self) -> str | None:
        """Add the labels the surrogate has not seen and refit its heads once every modelled
        quantity has ``acquisition.initial_labels`` labels; returns the checkpoint folder
        (relative to the campaign directory), or None before the first fit."""
        if self.surrogate is None:
            self.surrogate = self.build_surrogate()
        records, table = self.labels.first_stage()
        seen = set(self.surrogate_ids)
        evaluations = [e for e in records if e.id not in seen]
        if evaluations:
            labels = table.loc[[e.id for e in evaluations], self.config.modelled]
            structures = [e.result.initial_structure for e in evaluations]
            self.surrogate.add_embedded(
                self.surrogate.embed(structures),
                torch.tensor(labels.to_numpy(dtype=float)),
                structures,
            )
            self.surrogate_ids += [e.id for e in evaluations]
        counts = (~self.surrogate.labels.isnan()).sum(dim=0)
        if len(counts) == 0 or int(counts.min()) < self.config.acquisition.initial_labels:
            return None
        if evaluations or not self.surrogate.fitted:
            self.surrogate.refit()
            self.surrogate.save(self.store.models_dir / "surrogate")
        return "models/surrogate"
