"""What a round did: :class:`RoundSummary`, written as the round's ``summary.json`` and read by
the tracker, the CLI (``matterloop status``), the report and the benchmarks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from matterloop.core.tracking import flatten


@dataclass
class RoundSummary:
    """Attributes:
    round: the round's number.
    method: how the picks were chosen (``qLogNEHVI``, ``initial design``, ``random``).
    targets: the generator's property targets this round.
    candidates_generated, candidates_kept, sampler_dropped, filter: what generation and the
        filters produced (``filter``: the filter's report by reason).
    picks, evaluated, oracle_failures: picks, and the oracle's results and failures of the round.
    feasible_fraction, hit_rate: shares of the round's results.
    total_oracle_calls, hits, novel_results, known_results, stable_results: counts over all
        rounds so far.
    hypervolume, pareto_size, novel_hypervolume, novel_pareto_size: of all results, and of the
        novel ones only.
    seconds: wall seconds per stage (generation, filter, acquisition, screen, oracle, ...).
    fidelity: with a screen, what the two fidelities did (counts, CPU-seconds, cost laws and the
        screen's and the model's errors on the round's picks).
    surrogate_checkpoint, adapter_model, generator_model: model files written this round,
        relative to the campaign directory.
    """

    round: int
    method: str | None = None
    targets: dict[str, Any] = field(default_factory=dict)
    candidates_generated: int = 0
    candidates_kept: int = 0
    sampler_dropped: int = 0
    filter: dict[str, Any] = field(default_factory=dict)
    picks: int = 0
    evaluated: int = 0
    oracle_failures: int = 0
    feasible_fraction: float = 0.0
    hit_rate: float = 0.0
    total_oracle_calls: int = 0
    hits: int = 0
    novel_results: int = 0
    known_results: int = 0
    stable_results: int = 0
    hypervolume: float = 0.0
    pareto_size: int = 0
    novel_hypervolume: float = 0.0
    novel_pareto_size: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    fidelity: dict[str, Any] | None = None
    surrogate_checkpoint: str | None = None
    adapter_model: str | None = None
    generator_model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoundSummary:
        """The summary of a ``summary.json``; keys of other versions are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def metrics(self) -> dict[str, float]:
        """The numeric entries, flattened (``seconds.oracle``), for MLflow; ``round`` is the
        step, not a metric."""
        return {
            key: float(value)
            for key, value in flatten(self.to_dict()).items()
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "round"
        }

    def line(self) -> str:
        """One line for the console."""
        fidelity = self.fidelity
        screened = (
            f"{fidelity['screened']} screened, {fidelity['eligible']} eligible, "
            f"{fidelity['sent_to_oracle']} to the oracle ({fidelity['method']}), "
            if fidelity
            else ""
        )
        return (
            f"round {self.round}: {self.candidates_generated} generated, "
            f"{self.candidates_kept} kept, {screened}{self.evaluated} evaluated "
            f"({self.method}), {self.oracle_failures} failed; "
            f"{self.hits} hit(s) so far, {self.known_results} known after relaxation; "
            f"hypervolume {self.hypervolume:.4g} (novel only {self.novel_hypervolume:.4g}); "
            f"front {self.pareto_size}"
        )
