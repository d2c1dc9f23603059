"""Append-only JSON-lines journals that survive a killed process.

Each record is one line, written and pushed to disk (``fsync``) before the caller goes on, so a
record is either complete on disk or absent. A process killed mid-write can leave a last line
without its newline; :func:`read_journal` cuts it off so the record is redone, never half-read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def append_record(handle: IO[str], record: dict[str, Any]) -> None:
    """Write ``record`` as one line of the journal open in ``handle`` and push it to disk."""
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def read_journal(
    path: Path, on_truncate: Callable[[int], None] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of every complete line of ``path`` (nothing if it is missing).

    An incomplete last line is removed from the file and reported to ``on_truncate`` with its line
    number. A complete line that is not JSON raises :class:`ValueError` naming the line.
    """
    if not path.exists():
        return
    with path.open("rb+") as handle:
        complete = 0  # bytes up to the end of the last complete line
        for number, line in enumerate(iter(handle.readline, b""), start=1):
            if not line.endswith(b"\n"):
                handle.truncate(complete)
                if on_truncate is not None:
                    on_truncate(number)
                return
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            complete = handle.tell()
            yield number, record
