"""An oracle's results file as its writer uses it: the results already there by structure id
(checked to be this oracle's), repair after a crash, and a one-line outcome.

The file's layout is :mod:`matterloop.core.results_file`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from matterloop.core.journal import repair
from matterloop.core.result import OracleResult
from matterloop.core.results_file import read_results_file
from matterloop.oracles.errors import OracleInputError


def read_results(path: Path, oracle: str, console: Console) -> dict[str, OracleResult]:
    """Results already in ``path`` by structure id (empty if there is no such file).

    A last line cut short by an interrupted write is skipped (its structure is evaluated again;
    the writer cuts it off, see :func:`repair_results`). Of an id recorded more than once, the
    first result is kept and the later ones are reported (count and ids) on ``console``.

    Raises:
        ResultsFileError (a DataError): a line that is not a results record.
        OracleInputError: results of another oracle.
    """
    records, duplicates = read_results_file(path)
    if duplicates:
        ids = sorted(set(duplicates))
        console.print(
            f"[yellow]warning:[/] {path}: {len(duplicates)} later result(s) of ids already "
            f"recorded ignored ({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''}); the "
            "first of each id is kept",
            highlight=False,
            soft_wrap=True,
        )
    for record in records:
        if record.result.provenance.oracle != oracle:
            raise OracleInputError(
                f"{path} holds results of oracle {record.result.provenance.oracle!r}, not "
                f"{oracle!r}; write to another --out file"
            )
    return {record.id: record.result for record in records}


def repair_results(path: Path, console: Console) -> None:
    """As the writer of the results file ``path``: make it whole
    (:func:`matterloop.core.journal.repair`) and say what changed."""
    for line in repair(path):
        console.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)


def outcome_line(results: Mapping[str, OracleResult]) -> str:
    """E.g. ``3 results: 2 labeled (2 converged), 1 failed (1 invalid_structure)``."""
    labeled = [r for r in results.values() if r.ok]
    failures = Counter(r.failure.kind.value for r in results.values() if not r.ok)
    line = (
        f"{len(results)} results: {len(labeled)} labeled "
        f"({sum(r.converged for r in labeled)} converged), {failures.total()} failed"
    )
    if failures:
        line += " (" + ", ".join(f"{n} {kind}" for kind, n in failures.most_common()) + ")"
    return line
