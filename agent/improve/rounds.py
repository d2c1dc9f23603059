"""The rounds of ``matterloop generator improve`` (:mod:`matterloop.agent.improve`):
:class:`GeneratorImprovement` samples, relaxes, measures, rewards and fine-tunes, one round after
the other, resuming from what is on disk."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure
from rich.console import Console

from matterloop.agent.campaign.quantities import oracle_values
from matterloop.agent.improve.settings import RESUMABLE_CHANGES, SETTINGS_FILE, ImproveSettings
from matterloop.agent.improve.summary import metrics_of, round_line
from matterloop.agent.structure_sets import StructureSet, fill_generated, measure_set, relax_all
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
    denoising_loss,
    reward_finetune,
)
from matterloop.oracles.hull import ReferenceHull
from matterloop.oracles.references import load_hull
from matterloop.oracles.registry import OracleSpec, resolve_oracle_class

HELD_OUT_CRYSTALS = 256
"""MP-20 test crystals on which the anchor is measured (denoising loss before and after)."""


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
