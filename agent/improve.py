"""The generator learns from its oracle, offline (``matterloop generator improve``).

Each round: sample ``samples`` crystals from the current model → relax them with the oracle on
Ray → measure them on the S.U.N. protocol (complete hull, novelty after relaxation; the figures
of ``bench/sun.py``) → reward each relaxed structure (:class:`RewardWeights`) → fine-tune the
model on the rewarded relaxed structures with MP-20 replay
(:func:`matterloop.generator.training.reward.reward_finetune`). Round ``k`` samples model ``k``: the
base for round 0, round ``k - 1``'s fine-tuned model after.

Everything is kept under the output folder, so a killed run resumes where it stopped::

    improve.json               settings and the MLflow run id (a resume must not change them,
                               but for more rounds)
    round_000/structures.jsonl the samples; results.jsonl the oracle's results;
              evaluation.json  the S.U.N. protocol's rows; model.pt the fine-tuned model;
              summary.json     the round's figures (written last: the round is done)
    model.pt                   the last round's model

Sampling seeds are ``SEED_OFFSET + 1_000_003 seed + 100_003 round`` plus the crystal's position,
disjoint from the seeds ``bench/sun.py`` evaluates with (its ``--seed`` plus the position), so a
model is never measured on the noise its own training samples came from.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from rich.console import Console
from rich.table import Table

from matterloop.agent.campaign.config import ConstraintConfig, check_quantity
from matterloop.agent.campaign.quantities import declare_oracle_properties, oracle_values
from matterloop.agent.structure_sets import StructureSet, fill_generated, measure_set, relax_all
from matterloop.core.config import StrictModel
from matterloop.core.errors import ConfigError
from matterloop.core.result import OracleResult
from matterloop.core.tracking import tracked_run
from matterloop.core.writer_lock import exclusive_writer
from matterloop.data import CrystalDataset, load_dataset_split
from matterloop.generator.evaluation import MATCHER_SETTINGS, ReferenceSet, load_reference
from matterloop.generator.pretrained import default_checkpoint
from matterloop.generator.training.model_io import TrainedGenerator
from matterloop.generator.training.reward import (
    RewardedCrystals,
    RewardFinetuneConfig,
    RewardWeights,
    denoising_loss,
    reward_finetune,
)
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.properties import declared_properties_for
from matterloop.oracles.references import SHIPPED_HULLS, load_hull
from matterloop.oracles.registry import OracleSpec, resolve_oracle_class

SEED_OFFSET = 500_000
HELD_OUT_CRYSTALS = 256
"""MP-20 test crystals on which the anchor is measured (denoising loss before and after)."""
SETTINGS_FILE = "improve.json"
RESUMABLE_CHANGES = frozenset({"rounds", "workers", "tracking_uri"})
"""Settings a resumed run may change."""


class ImproveSettings(StrictModel):
    """What ``matterloop generator improve`` does (see the module docstring).

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


class GeneratorImprovement:
    """Runs (or resumes) the rounds of :class:`ImproveSettings`; ``run()`` does it all."""

    def __init__(self, settings: ImproveSettings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console()
        self.out = settings.out
        self.hull: ReferenceHull | None = None
        self.reference: ReferenceSet | None = None
        self.replay: CrystalDataset | None = None
        self.held_out: list | None = None

    # ------------------------------------------------------------------------------- paths
    def round_dir(self, number: int) -> Path:
        return self.out / f"round_{number:03d}"

    def model_of(self, number: int) -> Path:
        """The model that round ``number`` samples."""
        if number == 0:
            return self.settings.start or default_checkpoint()
        return self.round_dir(number - 1) / "model.pt"

    def summaries(self) -> list[dict[str, Any]]:
        """Summaries of the finished rounds, in order."""
        rows = []
        for number in range(self.settings.rounds):
            path = self.round_dir(number) / "summary.json"
            if not path.is_file():
                break
            rows.append(json.loads(path.read_text()))
        return rows

    # --------------------------------------------------------------------------------- run
    def run(self) -> list[dict[str, Any]]:
        """All rounds (finished ones are read back); returns their summaries.

        Raises:
            ConfigError: the folder holds a run with other settings.
            StoreLockedError: another live process writes to this folder.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        with exclusive_writer(self.out, directory=True):
            state = self.open_state()
            with tracked_run(
                self.settings.experiment,
                run_name=self.out.name,
                tracking_uri=self.settings.tracking_uri,
                params=self.settings.model_dump(mode="json", exclude={"tracking_uri"}),
                run_id=state.get("mlflow_run_id"),
            ) as mlflow:
                state["mlflow_run_id"] = mlflow.active_run().info.run_id
                self.write_state(state)
                done = len(self.summaries())
                if done:
                    self.console.print(f"resuming at round {done} ({done} round(s) on disk)")
                for number in range(done, self.settings.rounds):
                    summary = self.run_round(number)
                    mlflow.log_metrics(metrics_of(summary), step=number)
                    self.console.print(round_line(summary), highlight=False)
                final = self.round_dir(self.settings.rounds - 1) / "model.pt"
                shutil.copyfile(final, self.out / "model.pt")
                mlflow.log_artifact(str(self.out / "model.pt"))
        return self.summaries()

    def open_state(self) -> dict[str, Any]:
        path = self.out / SETTINGS_FILE
        current = self.settings.model_dump(mode="json")
        if not path.is_file():
            return {"settings": current}
        state = json.loads(path.read_text())
        changed = sorted(
            key
            for key in set(current) | set(state["settings"])
            if key not in RESUMABLE_CHANGES and current.get(key) != state["settings"].get(key)
        )
        if changed:
            raise ConfigError(
                f"{self.out} holds a run with other settings ({', '.join(changed)}); resume "
                "with the same settings (more rounds are fine) or choose another --out"
            )
        state["settings"] = current
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        (self.out / SETTINGS_FILE).write_text(json.dumps(state, indent=1))

    # ------------------------------------------------------------------------------- round
    def run_round(self, number: int) -> dict[str, Any]:
        settings = self.settings
        model_path = self.model_of(number)
        samples = StructureSet(self.out, self.round_dir(number).name, settings.oracle)
        started = time.perf_counter()
        fill_generated(
            samples,
            settings.samples,
            settings.sampling_steps,
            model_path,
            settings.sampling_seed(number),
        )
        spec = OracleSpec(name=settings.oracle, settings=self.oracle_settings())
        relax_all([samples], settings.workers, spec, record_crashes=True)
        relaxed_seconds = time.perf_counter() - started
        report = measure_set(samples, self.load_reference(), self.load_hull())
        results = samples.results()
        ids = [i for i, _ in samples.items]
        rows = {row["name"]: row for row in report.per_structure}
        rewards, repeats = self.rewards(number, ids, rows, results)
        relaxed = [results[i].structure for i in ids]
        self.write_rewarded(number, ids, rewards, relaxed)
        base = TrainedGenerator.load(model_path)
        rewarded = sum(r > 0 for r in rewards)
        if rewarded:
            fine_tuned = reward_finetune(
                base,
                relaxed,
                rewards,
                self.load_replay(),
                settings.finetune_config(number),
                progress=True,
            )
            seconds_finetune = fine_tuned.info["reward_finetuning"][-1]["seconds"]
            rewarded_crystals = RewardedCrystals.build(relaxed, rewards).crystals
        else:  # nothing to learn from: the next round samples the same model
            self.console.print(f"[yellow]warning:[/] round {number}: no sample was rewarded")
            fine_tuned, seconds_finetune, rewarded_crystals = base, 0.0, []
        fine_tuned.save(self.round_dir(number) / "model.pt")
        held_out = self.load_held_out()
        summary = {
            "round": number,
            "model": str(model_path),
            **{k: v for k, v in report.summary.items() if isinstance(v, int | float)},
            "rewarded": rewarded,
            "reward_sum": float(sum(rewards)),
            "sun_repeats_of_rewarded": repeats,
            "held_out_loss_before": denoising_loss(base.model, held_out),
            "held_out_loss_after": denoising_loss(fine_tuned.model, held_out),
            **(
                {
                    "rewarded_loss_before": denoising_loss(base.model, rewarded_crystals),
                    "rewarded_loss_after": denoising_loss(fine_tuned.model, rewarded_crystals),
                }
                if rewarded_crystals
                else {}
            ),
            "seconds_sampling": samples.seconds,
            "seconds_oracle_cpu": sum(r.wall_time_s for r in results.values()),
            "seconds_sample_and_relax_wall": relaxed_seconds,
            "seconds_finetune": seconds_finetune,
        }
        (self.round_dir(number) / "summary.json").write_text(json.dumps(summary, indent=1))
        return summary

    def oracle_settings(self) -> dict[str, Any]:
        """The oracle's settings, one thread per worker where the oracle has a ``threads``
        setting and none is given."""
        settings = dict(self.settings.oracle_settings)
        config_type = getattr(resolve_oracle_class(self.settings.oracle), "config_type", None)
        fields = getattr(config_type, "model_fields", {})
        if "threads" in fields:
            settings.setdefault("threads", 1)
        return settings

    def rewards(
        self,
        number: int,
        ids: Sequence[str],
        rows: dict[str, dict[str, Any]],
        results: dict[str, OracleResult],
    ) -> tuple[list[float], int]:
        """Each sample's reward, and how many of its S.U.N. structures repeat a structure
        rewarded in an earlier round (memorised rather than new)."""
        earlier = self.earlier_rewarded(number)
        matcher = StructureMatcher(**MATCHER_SETTINGS)
        names = [b.name for b in self.settings.require]
        rewards, repeats = [], 0
        for identifier in ids:
            row, result = rows[identifier], results[identifier]
            if not result.ok or not row["structurally_valid"]:
                rewards.append(0.0)
                continue
            repeat = row["sun"] and any(
                matcher.fit(result.structure, other)
                for other in earlier.get(result.structure.composition.reduced_formula, [])
            )
            repeats += bool(repeat)
            values = oracle_values(result, names, self.load_hull()) if names else {}
            met = all(b.satisfied(values[b.name]) for b in self.settings.require)
            rewards.append(
                self.settings.weights.of(
                    hit=bool(row["sun"]) and met and not repeat,
                    novel=bool(row["novel"] and row["unique"]) and not repeat,
                    e_above_hull=float(row["e_above_hull"]),
                )
            )
        return rewards, repeats

    def earlier_rewarded(self, number: int) -> dict[str, list[Structure]]:
        """Structures rewarded in rounds before ``number``, by reduced formula."""
        found: dict[str, list[Structure]] = {}
        for earlier in range(number):
            path = self.round_dir(earlier) / "rewarded.jsonl"
            for line in path.read_text().splitlines():
                structure = Structure.from_dict(json.loads(line)["structure"])
                found.setdefault(structure.composition.reduced_formula, []).append(structure)
        return found

    def write_rewarded(
        self, number: int, ids: Sequence[str], rewards: Sequence[float], relaxed: Sequence
    ) -> None:
        """The rewarded relaxed structures of round ``number`` (id, reward, structure)."""
        lines = [
            json.dumps({"id": i, "reward": r, "structure": s.as_dict()}) + "\n"
            for i, r, s in zip(ids, rewards, relaxed, strict=True)
            if r > 0
        ]
        (self.round_dir(number) / "rewarded.jsonl").write_text("".join(lines))

    # -------------------------------------------------------------------------------- data
    def load_hull(self) -> ReferenceHull:
        if self.hull is None:
            self.hull = load_hull(
                self.settings.hull or self.settings.oracle, self.settings.data_dir
            )
        return self.hull

    def load_reference(self) -> ReferenceSet:
        if self.reference is None:
            self.reference = load_reference(self.settings.replay_dataset, self.settings.data_dir)
        return self.reference

    def load_replay(self) -> CrystalDataset:
        """The base model's training crystals (train and val splits)."""
        if self.replay is None:
            parts = [
                load_dataset_split(self.settings.replay_dataset, split, self.settings.data_dir)
                for split in ("train", "val")
            ]
            self.replay = CrystalDataset.concatenate(parts)
        return self.replay

    def load_held_out(self) -> list:
        """The first ``HELD_OUT_CRYSTALS`` test crystals, for the anchor's loss."""
        if self.held_out is None:
            test = load_dataset_split(self.settings.replay_dataset, "test", self.settings.data_dir)
            self.held_out = [test[i] for i in range(min(HELD_OUT_CRYSTALS, len(test)))]
        return self.held_out


METRICS = {
    "sun_fraction": "sun",
    "stable_fraction": "stable",
    "novel_fraction": "novel",
    "unique_fraction": "unique",
    "p1_fraction": "p1",
    "mean_rmsd": "rmsd",
    "rmsd_failed_fraction": "rmsd_failed",
    "mean_e_above_hull": "mean_e_hull",
    "structurally_valid_fraction": "valid",
    "compositionally_valid_fraction": "smact",
    "rewarded": "rewarded",
    "sun_repeats_of_rewarded": "sun_repeats",
    "held_out_loss_before": "held_out_loss_before",
    "held_out_loss_after": "held_out_loss_after",
    "rewarded_loss_before": "rewarded_loss_before",
    "rewarded_loss_after": "rewarded_loss_after",
    "seconds_oracle_cpu": "oracle_cpu_s",
    "seconds_sampling": "sampling_s",
    "seconds_finetune": "finetune_s",
}


def metrics_of(summary: dict[str, Any]) -> dict[str, float]:
    """A round's MLflow metrics (numbers only)."""
    return {short: float(summary[key]) for key, short in METRICS.items() if key in summary}


def round_line(summary: dict[str, Any]) -> str:
    return (
        f"round {summary['round']}: S.U.N. {summary['sun_fraction']:.1%}, stable "
        f"{summary['stable_fraction']:.1%}, novel {summary['novel_fraction']:.1%}, P1 "
        f"{summary['p1_fraction']:.1%}, RMSD {summary['mean_rmsd']:.3f} Å; "
        f"{summary['rewarded']} rewarded; held-out loss {summary['held_out_loss_before']:.3f} "
        f"→ {summary['held_out_loss_after']:.3f}"
    )


def rounds_table(summaries: Sequence[dict[str, Any]]) -> Table:
    """The rounds at a glance (the model each round sampled), at 80 columns."""
    table = Table(title="generator improvement: each round's samples")
    for name in ("round", "N", "S.U.N.", "stable", "novel", "P1", "RMSD Å", "E_hull", "reward"):
        table.add_column(name, justify="right")
    for s in summaries:
        table.add_row(
            str(s["round"]),
            f"{s['num_structures']:.0f}",
            f"{s['sun_fraction']:.1%}",
            f"{s['stable_fraction']:.1%}",
            f"{s['novel_fraction']:.1%}",
            f"{s['p1_fraction']:.1%}",
            f"{s['mean_rmsd']:.3f}",
            f"{s['mean_e_above_hull']:.3f}",
            str(s["rewarded"]),
        )
    return table
