"""The surrogate the agent queries and refits: a MatGL embedding, GP heads and the HHI objective.

Candidates are structures; BoTorch sees their *features* ``X``, ``(n, d + 1)`` float64: the
``d``-dimensional embedding of :func:`matterloop.surrogates.network.embed` followed by the
production HHI. Compute features once per candidate set; :attr:`Surrogate.model` is a BoTorch
``ModelList`` on them with outputs ``(*targets, hhi_production)``, ready for acquisition functions
such as ``qLogNoisyExpectedHypervolumeImprovement`` and ``optimize_acqf_discrete``.
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
from matterloop.data.quantities import canonical_name, stored_names
from matterloop.surrogates.config import HeadConfig
from matterloop.surrogates.errors import SurrogateError
from matterloop.surrogates.head import HeadData, fit_head, restore_head
from matterloop.surrogates.hhi import HHIFeatureModel, hhi_column
from matterloop.surrogates.network import check_network, embed, load_network, save_network

CHECKPOINT_FORMAT = 1
MIN_LABELS = 4  # per target: at least one for calibration and three for fitting
HHI_OUTPUT = "hhi_production"


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
        targets: quantity names (aliases become canonical: generator.data.quantities), in the
            order of the model's outputs.
        head: GP head settings.
    """

    def __init__(
        self, network: MatGLModel, targets: Sequence[str], head: HeadConfig | None = None
    ) -> None:
        check_network(network)
        self.network = network.eval()
        self.targets = [canonical_name(t) for t in targets]
        self.head = head or HeadConfig()
        self.embeddings = torch.empty(0, 0, dtype=torch.double)
        self.labels = torch.empty(0, len(self.targets), dtype=torch.double)
        self.gps: list[SingleTaskGP] = []
        self.scales: dict[str, float] = {}

    @property
    def output_names(self) -> list[str]:
        """Names of the outputs of :attr:`model`: the targets, then the HHI."""
        return [*self.targets, HHI_OUTPUT]

    def embed(self, structures: Sequence[Structure], progress: bool = False) -> torch.Tensor:
        """``(n, d)`` float64 embeddings."""
        return embed(self.network, structures, self.head.embed_batch_size, progress)

    def features(self, structures: Sequence[Structure]) -> torch.Tensor:
        """``(n, d + 1)`` float64 features: embedding, then production HHI.

        Raises:
            HHIError: if a structure's HHI is undefined (e.g. it contains H).
        """
        hhi = hhi_column(structures)
        return torch.cat([self.embed(structures), hhi], dim=-1)

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
        self.add_embedded(self.embed(structures), torch.as_tensor(values))

    def add_embedded(self, embeddings: torch.Tensor, labels: torch.Tensor) -> None:
        """Add ``(n, d)`` embeddings with ``(n, T)`` labels (NaN where unknown)."""
        if labels.shape != (len(embeddings), len(self.targets)):
            raise SurrogateError(
                f"labels of shape {tuple(labels.shape)} do not match {len(embeddings)} "
                f"embeddings and {len(self.targets)} targets"
            )
        if len(self.embeddings) == 0:
            self.embeddings = self.embeddings.new_empty(0, embeddings.shape[-1])
        self.embeddings = torch.cat([self.embeddings, embeddings.double()])
        self.labels = torch.cat([self.labels, labels.double()])

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
        """BoTorch model on ``(..., n, d + 1)`` features with outputs :attr:`output_names`."""
        if not self.gps:
            raise SurrogateError("the surrogate has no fitted heads: call refit() first")
        return ModelList(*self.gps, HHIFeatureModel())

    def predict(
        self, features: torch.Tensor, observation_noise: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(n, T)`` posterior mean and standard deviation of the targets at ``(n, d + 1)``
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
                "gp_states": [gp.state_dict() for gp in self.gps],
            },
            path / "head.pt",
        )
        meta = {
            "format": CHECKPOINT_FORMAT,
            "targets": self.targets,
            "head": self.head.model_dump(),
            "scales": self.scales,
        }
        (path / "surrogate.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Surrogate:
        """Read a checkpoint written by :meth:`save`; predictions are identical.

        Raises:
            SurrogateError: ``path`` is not a surrogate checkpoint folder, or its parts disagree.
            generator.training.checkpoint.CheckpointError: a tensor file that is corrupt or holds
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
            surrogate = cls(network, meta["targets"], HeadConfig(**meta["head"]))
            surrogate.add_embedded(state["embeddings"], state["labels"])
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
