"""The surrogate the agent queries and refits: a MatGL embedding, GP heads and exact columns.

Candidates are structures; BoTorch sees their *features* ``X``, ``(n, d + k)`` float64: the
``d``-dimensional embedding of :func:`matterloop.surrogates.network.embed` followed by ``k``
quantities computed exactly from each structure (:mod:`matterloop.data.computed`; by default the
production HHI). Compute features once per candidate set; :attr:`Surrogate.model` is a BoTorch
``ModelList`` on them with outputs ``(*targets, *computed)``: a calibrated GP per target, reading
the embedding, then a deterministic model per computed quantity, reading its column. It is ready
for acquisition functions such as ``qLogNoisyExpectedHypervolumeImprovement`` and
``optimize_acqf_discrete``; :meth:`Surrogate.labeled_features` are their ``X_baseline``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from botorch.models import ModelList, SingleTaskGP
from matgl.models import MatGLModel
from pymatgen.core import Structure

from matterloop.core.checkpoint import load_tensors
from matterloop.data.computed import computed_columns
from matterloop.data.quantities import canonical_name, stored_names
from matterloop.surrogates.columns import column_model
from matterloop.surrogates.config import HeadConfig
from matterloop.surrogates.errors import SurrogateError
from matterloop.surrogates.head import HeadData, fit_head, restore_head
from matterloop.surrogates.network import check_network, embed, load_network, save_network

CHECKPOINT_FORMAT = 1
MIN_LABELS = 4  # per target: at least one for calibration and three for fitting
HHI_OUTPUT = "hhi_production"
"""The computed column of a surrogate built without naming its own."""


@dataclass(frozen=True)
class RefitReport:
    """What one :meth:`Surrogate.refit` did.

    Attributes:
        seconds: wall time of fitting and calibrating every head.
        num_labels: labels per target.
        scales: per target, the factor applied to the GP's standard deviation by calibration.
    """

    seconds: float
    num_labels: dict[str, int]
    scales: dict[str, float]


class Surrogate:
    """A MatGL network as a fixed featurizer plus one calibrated GP per target.

    Args:
        network: an intensive MatGL model; only its embedding is used, so its outputs need not
            be the targets (a network trained on formation energy can featurize for E_hull).
        targets: quantity names (aliases become canonical: :mod:`matterloop.data.quantities`),
            in the order of the model's outputs.
        head: GP head settings.
        computed: the quantities computed from a structure that follow the embedding in the
            features (:mod:`matterloop.data.computed`), in the order of the model's outputs.
    """

    def __init__(
        self,
        network: MatGLModel,
        targets: Sequence[str],
        head: HeadConfig | None = None,
        computed: Sequence[str] = (HHI_OUTPUT,),
    ) -> None:
        check_network(network)
        self.network = network.eval()
        self.targets = [canonical_name(t) for t in targets]
        self.computed = [canonical_name(c) for c in computed]
        self.head = head or HeadConfig()
        self.embeddings = torch.empty(0, 0, dtype=torch.double)
        self.labels = torch.empty(0, len(self.targets), dtype=torch.double)
        self.computed_values = torch.empty(0, len(self.computed), dtype=torch.double)
        self.gps: list[SingleTaskGP] = []
        self.scales: dict[str, float] = {}

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs of :attr:`model`: the targets, then the computed quantities."""
        return [*self.targets, *self.computed]

    @property
    def fitted(self) -> bool:
        """Whether the GP heads are fitted (:meth:`refit`), so that :attr:`model` exists."""
        return bool(self.gps)

    def embed(self, structures: Sequence[Structure], progress: bool = False) -> torch.Tensor:
        """``(n, d)`` float64 embeddings."""
        return embed(self.network, structures, self.head.embed_batch_size, progress)

    def features(
        self,
        structures: Sequence[Structure],
        computed: Mapping[str, Sequence[float]] | None = None,
    ) -> torch.Tensor:
        """``(n, d + k)`` float64 features: embedding, then the computed quantities, taken from
        ``computed`` (``{name: (n,)}``) where given there, else computed.

        Raises:
            UndefinedQuantity: a computed quantity is undefined for a structure (e.g. the HHI of
                a hydride: ``HHIError``), naming every such structure.
            SurrogateError: given values of another length than ``structures``.
        """
        wrong = [n for n, v in (computed or {}).items() if len(v) != len(structures)]
        if wrong:
            raise SurrogateError(
                f"values of {', '.join(wrong)} for other than the {len(structures)} structures"
            )
        columns = [
            torch.tensor(computed[name], dtype=torch.double)
            if computed is not None and name in computed
            else computed_columns(structures, [name])[:, 0]
            for name in self.computed
        ]
        return torch.cat([self.embed(structures), *(c.unsqueeze(-1) for c in columns)], dim=-1)

    def labeled_features(self, start: int = 0) -> torch.Tensor:
        """``(m, d + k)`` features of the labeled rows from row ``start`` on (in the order they
        were added) whose computed quantities are all defined: acquisition's ``X_baseline``."""
        features = torch.cat([self.embeddings[start:], self.computed_values[start:]], dim=-1)
        return features[~features.isnan().any(dim=-1)]

    def add(
        self, structures: Sequence[Structure], labels: Mapping[str, Sequence[float] | np.ndarray]
    ) -> None:
        """Add labeled structures; ``labels[target]`` (under any name of the target's quantity)
        is ``(n,)``, NaN where unknown."""
        keys = {t: next((k for k in stored_names(t) if k in labels), None) for t in self.targets}
        missing = [t for t, key in keys.items() if key is None]
        if missing:
            raise SurrogateError(f"labels missing for {', '.join(sorted(missing))}")
        values = np.stack([np.asarray(labels[keys[t]], dtype=float) for t in self.targets], -1)
        self.add_embedded(self.embed(structures), torch.as_tensor(values), structures)

    def add_embedded(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        structures: Sequence[Structure] | None = None,
    ) -> None:
        """Add ``(n, d)`` embeddings with ``(n, T)`` labels (NaN where unknown) and, from the
        labeled ``structures`` where given, their computed quantities (NaN where undefined or
        without structures; such rows are left out of :meth:`labeled_features`)."""
        if labels.shape != (len(embeddings), len(self.targets)):
            raise SurrogateError(
                f"labels of shape {tuple(labels.shape)} do not match {len(embeddings)} "
                f"embeddings and {len(self.targets)} targets"
            )
        if structures is not None and len(structures) != len(embeddings):
            raise SurrogateError(f"{len(structures)} structures for {len(embeddings)} embeddings")
        if structures is None:
            computed = torch.full((len(embeddings), len(self.computed)), torch.nan)
        else:
            computed = computed_columns(structures, self.computed, undefined_as_nan=True)
        if len(self.embeddings) == 0:
            self.embeddings = self.embeddings.new_empty(0, embeddings.shape[-1])
        self.embeddings = torch.cat([self.embeddings, embeddings.double()])
        self.labels = torch.cat([self.labels, labels.double()])
        self.computed_values = torch.cat([self.computed_values, computed.double()])

    def head_data(self, target: int) -> HeadData:
        """The labeled rows of one target, split at random (seeded) for fitting/calibration."""
        rows = torch.nonzero(~self.labels[:, target].isnan()).squeeze(-1)
        if len(rows) < MIN_LABELS:
            raise SurrogateError(
                f"{self.targets[target]}: {len(rows)} labels, at least {MIN_LABELS} needed"
            )
        generator = torch.Generator().manual_seed(self.head.seed)
        rows = rows[torch.randperm(len(rows), generator=generator)]
        num_cal = max(1, round(self.head.calibration_fraction * len(rows)))
        cal, fit = rows[:num_cal], rows[num_cal : num_cal + self.head.fit_max_labels]
        rest = rows[num_cal + self.head.fit_max_labels :]
        return HeadData(
            fit_embeddings=self.embeddings[fit],
            fit_y=self.labels[fit, target],
            cal_embeddings=self.embeddings[cal],
            cal_y=self.labels[cal, target],
            rest_embeddings=self.embeddings[rest],
            rest_y=self.labels[rest, target],
        )

    def refit(self) -> RefitReport:
        """Refit every GP head on all labels added so far (the network is not retrained),
        starting from the previous refit's hyperparameters."""
        start = time.perf_counter()
        previous = self.gps or [None] * len(self.targets)
        gps, scales = [], {}
        for index, target in enumerate(self.targets):
            gp, scales[target] = fit_head(
                self.head_data(index), self.head.coverage, self.head.fit_max_iter, previous[index]
            )
            gps.append(gp)
        self.gps, self.scales = gps, scales
        return RefitReport(
            seconds=time.perf_counter() - start,
            num_labels={
                t: int((~self.labels[:, i].isnan()).sum()) for i, t in enumerate(self.targets)
            },
            scales=scales,
        )

    @property
    def model(self) -> ModelList:
        """BoTorch model on ``(..., n, d + k)`` features with outputs :attr:`output_names`."""
        if not self.gps:
            raise SurrogateError("the surrogate has no fitted heads: call refit() first")
        d = self.embeddings.shape[-1]
        return ModelList(*self.gps, *(column_model(d + j) for j in range(len(self.computed))))

    def predict(
        self, features: torch.Tensor, observation_noise: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, T)`` posterior mean and standard deviation of the targets at ``(n, d + k)``
        features; with ``observation_noise`` the spread of a new label, else of the latent mean."""
        if not self.gps:
            raise SurrogateError("the surrogate has no fitted heads: call refit() first")
        with torch.no_grad():
            posteriors = [
                gp.posterior(features, observation_noise=observation_noise) for gp in self.gps
            ]
            mean = torch.cat([p.mean for p in posteriors], dim=-1)
            std = torch.cat([p.variance.sqrt() for p in posteriors], dim=-1)
        return mean, std

    def save(self, path: str | Path) -> None:
        """Write a checkpoint folder: ``network/`` (MatGL format), ``head.pt`` and
        ``surrogate.json``."""
        path = Path(path)
        save_network(self.network, path / "network", metadata={"targets": self.targets})
        torch.save(
            {
                "embeddings": self.embeddings,
                "labels": self.labels,
                "computed_values": self.computed_values,
                "gp_states": [gp.state_dict() for gp in self.gps],
            },
            path / "head.pt",
        )
        meta = {
            "format": CHECKPOINT_FORMAT,
            "targets": self.targets,
            "computed": self.computed,
            "head": self.head.model_dump(),
            "scales": self.scales,
        }
        (path / "surrogate.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """Read a checkpoint written by :meth:`save`; predictions are identical.

        Raises:
            SurrogateError: ``path`` is not a surrogate checkpoint folder, or its parts disagree.
            matterloop.core.checkpoint.CheckpointError: a tensor file that is corrupt or holds
                pickled objects (refused without running them).
        """
        path = Path(path)
        meta_path = path / "surrogate.json"
        if not meta_path.is_file():
            raise SurrogateError(
                f"{path}: not a surrogate checkpoint (expected a folder with surrogate.json, "
                "network/ and head.pt, as written by `matterloop surrogate train`)"
            )
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise SurrogateError(f"{meta_path}: not valid JSON ({exc})") from exc
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            format_ = meta.get("format") if isinstance(meta, dict) else None
            raise SurrogateError(f"{path}: unknown checkpoint format {format_}")
        network = load_network(path / "network")
        state = load_tensors(path / "head.pt")
        try:
            surrogate = cls(
                network,
                meta["targets"],
                HeadConfig(**meta["head"]),
                meta.get("computed", [HHI_OUTPUT]),
            )
            surrogate.add_embedded(state["embeddings"], state["labels"])
            if "computed_values" in state:
                surrogate.computed_values = state["computed_values"]
            surrogate.gps = [
                restore_head(surrogate.head_data(i), gp_state)
                for i, gp_state in enumerate(state["gp_states"])
            ]
            surrogate.scales = {canonical_name(t): s for t, s in meta["scales"].items()}
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise SurrogateError(
                f"{path}: head.pt and surrogate.json do not match ({exc!r})"
            ) from exc
        return surrogate
