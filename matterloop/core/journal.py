"""Append-only JSON-lines journals that survive a killed process.

Each record is one line, written and pushed to disk (``fsync``) before the caller goes on, so a
record is either complete on disk or absent. A process killed mid-write can leave a last line
without its newline: readers skip it (a live writer may be writing it), and the next writer,
holding the store's writer lock, cuts it off with :func:`repair_journal`
so that its record is redone, never half-read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from matterloop.core.atomic import atomic_path


def append_record(handle: IO[str], record: dict[str, Any]) -> None:
    """Write ``record`` as one line of the journal open in ``handle`` and push it to disk."""
    handle.write(json.dumps(record) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def read_journal(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, record)`` of every complete line of ``path`` (nothing if it is missing);
    an incomplete last line is skipped, the file is not changed.

    Raises:
        ValueError: a complete line that is not a JSON object, named by its line.
    """
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(iter(handle.readline, b""), start=1):
            if not line.endswith(b"\n"):
                return
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON line ({exc})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            yield number, record


def repair_journal(path: Path) -> int | None:
    """Cut an incomplete last line off ``path``; returns its line number, None if there was
    none. Only the store's writer may call this."""
    if not path.exists():
        return None
    with path.open("rb+") as handle:
        complete = 0  # bytes up to the end of the last complete line
        for number, line in enumerate(iter(handle.readline, b""), start=1):
            if not line.endswith(b"\n"):
                handle.truncate(complete)
                return number
            complete = handle.tell()
    return None


def first_of_each(
    records: Iterator[tuple[int, dict[str, Any]]], key: str = "id"
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]]]:
    """``(kept, duplicates)``: the first record of each ``record[key]`` in order, and the later
    records of a key already seen (two writers, or a copy appended twice)."""
    seen: set[Any] = set()
    kept, duplicates = [], []
    for number, record in records:
        identifier = record.get(key)
        (duplicates if identifier in seen else kept).append((number, record))
        seen.add(identifier)
    return kept, duplicates


def set_aside_duplicates(path: Path, key: str = "id") -> list[str]:
    """Move the later records of an id already in ``path`` to ``<stem>.duplicates.jsonl``
    beside it (appended, nothing is deleted); returns their ids. Only the store's writer may
    call this; the file is replaced atomically."""
    kept, duplicates = first_of_each(read_journal(path), key)
    if not duplicates:
        return []
    aside = path.with_name(f"{path.stem}.duplicates{path.suffix}")
    with aside.open("a", encoding="utf-8") as handle:
        for _, record in duplicates:
            append_record(handle, record)
    with atomic_path(path) as temporary, temporary.open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for _, record in kept)
        handle.flush()
        os.fsync(handle.fileno())
    return [str(record.get(key)) for _, record in duplicates]


def repair(path: Path) -> list[str]:
    """As the writer of the journal ``path``: cut off an incomplete last line
    (:func:`repair_journal`) and set later duplicates of an id aside
    (:func:`set_aside_duplicates`); returns one line for each change, for the user."""
    said = []
    cut = repair_journal(path)
    if cut is not None:
        said.append(
            f"{path.name}: incomplete last line {cut} (a killed writer's) removed; its record "
            "is made again"
        )
    duplicates = set_aside_duplicates(path)
    if duplicates:
        ids = sorted(set(duplicates))
        shown = ", ".join(ids[:5]) + (", …" if len(ids) > 5 else "")
        said.append(
            f"{path.name}: {len(duplicates)} later result(s) of ids already recorded ({shown}) "
            f"set aside in {path.stem}.duplicates{path.suffix}; the first of each id is kept"
        )
    return said
