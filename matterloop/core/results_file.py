"""Oracle results files: one JSON-lines layout, read and written here only.

Everything that labels structures writes it — ``matterloop oracle run``, ``reference build``, a
campaign's ``results.jsonl``, the benches — and everything that reads labels reads it:
``generator finetune --labels``, ``surrogate train --labels``, a campaign that resumes. One line
per structure::

    {"id": "mp-149", "result": {...}}

where ``result`` is :meth:`OracleResult.to_dict`. A campaign adds the round that evaluated the
structure and the novelty of its relaxed form (a :class:`~matterloop.generator.evaluation.Novelty`
value; ``""`` for a failed result)::

    {"id": "r0003-01", "round": 3, "novelty": "novel", "result": {...}}

Lines are appended and pushed to disk one at a time (:mod:`matterloop.core.journal`); a reader
skips an incomplete last line and keeps the first line of an id recorded twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from matterloop.core.errors import DataError
from matterloop.core.journal import append_record, first_of_each, read_journal
from matterloop.core.result import OracleResult

__all__ = ["ResultRecord", "ResultsFileError", "append_result", "read_results_file"]


class ResultsFileError(DataError):
    """A file, or a line of one, that is not an oracle results file."""


@dataclass(frozen=True)
class ResultRecord:
    """One line of a results file: the structure's ``id``, its result and, in a campaign, the
    ``round`` that evaluated it and the ``novelty`` of the relaxed structure (None elsewhere,
    and in campaign lines written before novelty was judged after relaxation)."""

    id: str
    result: OracleResult
    round: int | None = None
    novelty: str | None = None

    def to_dict(self) -> dict[str, Any]:
        context = {"round": self.round, "novelty": self.novelty}
        return {
            "id": self.id,
            **{key: value for key, value in context.items() if value is not None},
            "result": self.result.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResultRecord:
        """Raises: KeyError, TypeError or ValueError for a dict of another layout."""
        round_number = data.get("round")
        return cls(
            id=str(data["id"]),
            result=OracleResult.from_dict(data["result"]),
            round=None if round_number is None else int(round_number),
            novelty=data.get("novelty"),
        )


def append_result(handle: IO[str], record: ResultRecord) -> None:
    """Append ``record`` to the results file open in ``handle`` and push it to disk before the
    caller goes on."""
    append_record(handle, record.to_dict())


def read_results_file(path: Path) -> tuple[list[ResultRecord], list[str]]:
    """``(records, duplicate ids)``: the records of ``path`` in the order they were written
    (nothing if it is missing), the first of each id, and the ids of the later lines set aside.

    Raises:
        ResultsFileError: a complete line that is not a results record, named by its number
            (only an incomplete last line, a killed writer's, is skipped).
    """
    try:
        kept, duplicates = first_of_each(read_journal(path))
    except ValueError as exc:  # a complete line that is not JSON, named by read_journal
        raise ResultsFileError(
            f"{exc}; not an oracle results file (only an incomplete last line is tolerated)"
        ) from exc
    records = []
    for number, line in kept:
        try:
            records.append(ResultRecord.from_dict(line))
        except (KeyError, TypeError, ValueError) as exc:
            raise ResultsFileError(
                f"{path}:{number}: not a line of an oracle results file ({exc!r}); each line is "
                '{"id": ..., "result": {...}}, as `matterloop oracle run` and campaigns write'
            ) from exc
    return records, [str(line.get("id")) for _, line in duplicates]
