"""A campaign's durable state: everything needed to resume after the driver is killed.

Layout of the campaign directory::

    config.yaml            the configuration the campaign started with
    state.json             the next round to run and the MLflow run (atomic rewrite)
    .writer.lock           the lock of the process that runs the campaign (agent.writer_lock)
    results.jsonl          one line per oracle evaluation, with its round and the novelty of
                           the relaxed structure (oracles.results_file), fsync'ed as it returns
    results.duplicates.jsonl  later records of an id already recorded, set aside on resume
    screen.jsonl           two fidelities: the screen's results, same layout (its relaxed
                           structures are what the oracle labels)
    rounds/0003/picks.json the candidates chosen for oracle evaluation in round 3 (atomic); with
                           a screen, those chosen for the screen
    rounds/0003/oracle_picks.json  two fidelities: the screened structures chosen for the
                           expensive oracle (atomic)
    rounds/0003/summary.json, front.csv, labels.csv (E_hull as it was then), pareto.png,
                           picks/*.cif
    models/                surrogate and adapter checkpoints

The picks of a round are written before any oracle call starts, so a resumed round evaluates the
same structures (with a screen, the oracle's picks too are written before its first call); an
evaluation is skipped on resume exactly when its line is in ``results.jsonl`` (``screen.jsonl``).
Nothing finished is lost or repeated: a structure whose evaluation was in flight when the driver
died is evaluated once more (its result had not been recorded).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pymatgen.core import Structure

from matterloop.agent.campaign.summary import RoundSummary
from matterloop.core.atomic import atomic_path
from matterloop.core.errors import ConfigError, DataError
from matterloop.core.journal import repair
from matterloop.core.results_file import (
    ResultRecord,
    ResultsFileError,
    append_result,
    read_results_file,
)

RESUMABLE_SECTIONS = ("budget", "ray", "tracking", "mlflow")
"""Config sections that may change between a campaign's runs (e.g. a larger budget); ``mlflow``
is the former key of ``tracking``."""


@dataclass
class CampaignState:
    """Attributes:
    next_round: the first round not yet complete.
    logged_rounds: rounds whose metrics and artifacts are in MLflow.
    mlflow_run_id: the campaign's MLflow run, once created.
    adapter_model: the latest adapted generator, relative to the campaign directory.
    generator_model: the latest base generator fine-tuned on the campaign's rewards
        (``generator.learn_from_labels``), relative to the campaign directory.
    """

    next_round: int = 0
    logged_rounds: int = 0
    mlflow_run_id: str | None = None
    adapter_model: str | None = None
    generator_model: str | None = None


@dataclass(frozen=True)
class Pick:
    """A candidate chosen for the oracle: its id (``r0003-01``), structure and the surrogate's
    predicted mean and standard deviation of each modelled quantity (empty in the initial
    design)."""

    id: str
    structure: Structure
    predicted_mean: dict[str, float] = field(default_factory=dict)
    predicted_std: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "structure": self.structure.as_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pick:
        return cls(**{**data, "structure": Structure.from_dict(data["structure"])})


class CampaignStore:
    """Reads and writes the campaign directory ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.results_path = self.root / "results.jsonl"
        self.screen_path = self.root / "screen.jsonl"
        self.state_path = self.root / "state.json"
        self.config_path = self.root / "config.yaml"

    def round_dir(self, number: int) -> Path:
        return self.root / "rounds" / f"{number:04d}"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    def exists(self) -> bool:
        return self.state_path.is_file()

    def open(self, config: dict[str, Any]) -> CampaignState:
        """Start the campaign (writing its config) or check that ``config`` may resume it.

        Raises:
            ConfigError: if the campaign was started with a config that differs other than in
                :data:`RESUMABLE_SECTIONS`.
        """
        if not self.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.config_path, yaml.safe_dump(config, sort_keys=False))
            state = CampaignState()
            self.save_state(state)
            return state
        started = yaml.safe_load(self.config_path.read_text())
        changed = sorted(
            key
            for key in set(config) | set(started)
            if key not in RESUMABLE_SECTIONS and config.get(key) != started.get(key)
        )
        if changed:
            raise ConfigError(
                f"{self.root} holds a campaign started with another configuration (differs in "
                f"{', '.join(changed)}); only {', '.join(RESUMABLE_SECTIONS)} may change on "
                "resume. Use a new campaign directory."
            )
        write_text_atomic(self.config_path, yaml.safe_dump(config, sort_keys=False))
        return self.load_state()

    def load_state(self) -> CampaignState:
        if not self.exists():
            raise FileNotFoundError(f"{self.root}: not a campaign directory (no state.json)")
        try:
            return CampaignState(**json.loads(self.state_path.read_text()))
        except (ValueError, TypeError) as exc:
            raise DataError(f"{self.state_path}: not a campaign state file ({exc})") from exc

    def save_state(self, state: CampaignState) -> None:
        write_text_atomic(self.state_path, json.dumps(asdict(state), indent=2))

    def evaluations(self) -> list[ResultRecord]:
        """Every recorded oracle evaluation, in the order they returned; of an id recorded more
        than once (two writers before stores were locked), the first.

        Raises:
            ResultsFileError (a DataError): a line other than the last is not a complete
                record, or one without its round (only a last line cut short by a killed driver
                is expected, and skipped).
        """
        return campaign_records(self.results_path)

    def screenings(self) -> list[ResultRecord]:
        """The screen's results (two fidelities), as :meth:`evaluations`."""
        return campaign_records(self.screen_path)

    def repair(self) -> list[str]:
        """Make the results journals whole again, as their writer
        (:func:`matterloop.core.journal.repair`); returns what changed, a line each."""
        return repair(self.results_path) + repair(self.screen_path)

    def results_journal(self, screen: bool = False):
        """The oracle's (or the screen's) results journal, open for appending (see
        :meth:`record`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.screen_path if screen else self.results_path
        return path.open("a", encoding="utf-8")

    @staticmethod
    def record(handle, evaluation: ResultRecord) -> None:
        """Append one evaluation to the open journal and push it to disk."""
        append_result(handle, evaluation)

    def picks(self, number: int, stage: str = "picks") -> list[Pick] | None:
        """The picks of round ``number`` (``stage`` ``"oracle_picks"``: those chosen for the
        expensive oracle among the screened), or None if they were not chosen yet."""
        path = self.round_dir(number) / f"{stage}.json"
        if not path.is_file():
            return None
        return [Pick.from_dict(p) for p in json.loads(path.read_text())["picks"]]

    def save_picks(
        self, number: int, picks: list[Pick], details: dict[str, Any], stage: str = "picks"
    ) -> None:
        """Write the picks of a round (and their CIF files, in ``stage/``) before any is
        evaluated."""
        directory = self.round_dir(number)
        for pick in picks:
            cif = directory / stage / f"{pick.id}.cif"
            cif.parent.mkdir(parents=True, exist_ok=True)
            pick.structure.to(filename=str(cif))
        payload = {"round": number, **details, "picks": [p.to_dict() for p in picks]}
        write_text_atomic(directory / f"{stage}.json", json.dumps(payload))

    def round_details(self, number: int, stage: str = "picks") -> dict[str, Any]:
        """What was recorded with the picks of a round (targets, filter counts, timings)."""
        data = json.loads((self.round_dir(number) / f"{stage}.json").read_text())
        data.pop("picks")
        return data

    def save_summary(self, summary: RoundSummary) -> None:
        path = self.round_dir(summary.round) / "summary.json"
        write_text_atomic(path, json.dumps(summary.to_dict(), indent=2))

    def summaries(self) -> list[RoundSummary]:
        """The summaries of the completed rounds, in order."""
        paths = sorted((self.root / "rounds").glob("*/summary.json"))
        return [RoundSummary.from_dict(json.loads(p.read_text())) for p in paths]


def campaign_records(path: Path) -> list[ResultRecord]:
    """The records of a campaign's results journal (see :meth:`CampaignStore.evaluations`)."""
    records, _ = read_results_file(path)
    for record in records:
        if record.round is None:
            raise ResultsFileError(
                f"{path}: the record of {record.id} has no round; not a campaign's results file"
            )
    return records


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
