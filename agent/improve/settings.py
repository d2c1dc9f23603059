"""What ``matterloop generator improve`` does: :class:`ImproveSettings`, checked before a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from matterloop.agent.campaign.config import ConstraintConfig, check_quantity
from matterloop.agent.campaign.quantities import declare_oracle_properties
from matterloop.core.config import StrictModel
from matterloop.generator.training.reward import RewardFinetuneConfig, RewardWeights
from matterloop.oracles.properties import declared_properties_for
from matterloop.oracles.references import SHIPPED_HULLS
from matterloop.oracles.registry import resolve_oracle_class

SEED_OFFSET = 500_000
"""Sampling seeds start here (:meth:`ImproveSettings.sampling_seed`)."""
SETTINGS_FILE = "improve.json"
RESUMABLE_CHANGES = frozenset({"rounds", "workers", "tracking_uri"})
"""Settings a resumed run may change."""


class ImproveSettings(StrictModel):
    """What ``matterloop generator improve`` does (:mod:`matterloop.agent.improve`).

    ``require``: bounds on oracle or structure quantities (``{name: magnetic_density, min:
    0.1}``) that a S.U.N. structure must also meet to be a hit; one that misses them is a near
    hit. ``start``: the base model file (None: the shipped one). ``hull``: a hull file, or the
    name of an oracle with a shipped hull (default: the oracle's).
    """

    oracle: str
    oracle_settings: dict[str, Any] = Field(default_factory=dict)
    out: Path
    rounds: int = Field(2, gt=0)
    samples: int = Field(256, gt=0, description="crystals sampled and relaxed per round")
    sampling_steps: int = Field(100, gt=0)
    start: Path | None = None
    hull: str | None = None
    seed: int = Field(0, ge=0)
    workers: int = Field(2, gt=0, description="oracle workers on the local Ray instance")
    require: tuple[ConstraintConfig, ...] = ()
    hit_weight: float = Field(1.0, gt=0)
    near_hit_weight: float = Field(0.25, ge=0)
    near_e_hull: float = Field(0.2, ge=0, description="eV/atom")
    finetune_steps: int = Field(300, gt=0)
    batch_size: int = Field(64, gt=0)
    lr: float = Field(5e-5, gt=0)
    replay_fraction: float = Field(0.5, ge=0, lt=1)
    replay_dataset: str = "mp_20"
    data_dir: Path | None = None
    experiment: str = "generator-improve"
    tracking_uri: str | None = None

    @model_validator(mode="after")
    def consistent(self) -> Self:
        if not self.oracle:
            raise ValueError("oracle: an oracle is needed to relax and reward the samples")
        try:
            oracle_class = resolve_oracle_class(self.oracle)
        except ValueError as exc:
            raise ValueError(f"oracle: {exc}") from exc
        provided = declared_properties_for(oracle_class, self.oracle_settings)
        declare_oracle_properties(self.oracle, provided)
        for bound in self.require:
            check_quantity(bound.name, "require", self.oracle, provided)
        hull = self.hull or self.oracle
        if not Path(hull).is_file() and hull not in SHIPPED_HULLS:
            raise ValueError(
                f"hull: oracle {self.oracle!r} has no shipped hull ({', '.join(SHIPPED_HULLS)} "
                f"do); build one with `matterloop reference build --oracle {self.oracle}` and "
                "give its file"
            )
        if hull in SHIPPED_HULLS and hull != self.oracle:
            raise ValueError(
                f"hull: the shipped {hull} hull holds {hull}'s energies, not {self.oracle}'s"
            )
        return self

    @property
    def weights(self) -> RewardWeights:
        return RewardWeights(self.hit_weight, self.near_hit_weight, self.near_e_hull)

    def finetune_config(self, round_number: int) -> RewardFinetuneConfig:
        return RewardFinetuneConfig(
            steps=self.finetune_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            replay_fraction=self.replay_fraction,
            seed=self.seed * 1_000_003 + round_number,
        )

    def sampling_seed(self, round_number: int) -> int:
        return SEED_OFFSET + 1_000_003 * self.seed + 100_003 * round_number
