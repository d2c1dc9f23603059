"""One writer per store: real processes hold the lock, a second writer stops at once naming
the holder and writing nothing, and the lock of a killed holder is taken over."""

from __future__ import annotations

from pathlib import Path

import pytest

from matterloop.agent.cli import main
from matterloop.core.journal import (
    first_of_each,
    read_journal,
    repair_journal,
    set_aside_duplicates,
)
from matterloop.core.writer_lock import StoreLockedError, exclusive_writer, lock_path
from tests.agent.conftest import campaign_config, holder, kill, write_config


def listing(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in directory.rglob("*")
    }


def test_a_second_campaign_writer_stops_naming_the_holder_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "campaign"
    config = write_config(tmp_path / "c.yaml", campaign_config(directory))
    first = holder(directory, "directory")
    try:
        before = listing(directory)
        assert main(["run", str(config)]) == 2
        error = capsys.readouterr().err
        assert f"PID {first.pid} on" in error and "is being written by" in error
        assert listing(directory) == before  # no config, state or results written
    finally:
        kill(first)

    with exclusive_writer(directory, directory=True) as previous:  # the dead holder's lock
        assert previous["pid"] == first.pid


def test_the_lock_of_a_killed_results_writer_is_taken_over(tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    first = holder(results, "file")
    with pytest.raises(StoreLockedError, match=f"PID {first.pid} on"):
        with exclusive_writer(results):
            pass
    kill(first)
    with exclusive_writer(results) as previous:
        assert previous["pid"] == first.pid
        assert lock_path(results, directory=False).is_file()
    assert not results.exists()  # the lock file sits beside the store, not in it


def test_a_reader_leaves_an_incomplete_last_line_to_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    whole = '{"id": "a"}\n{"id": "b"}\n'
    path.write_text(whole + '{"id": "c", "res')

    assert [record["id"] for _, record in read_journal(path)] == ["a", "b"]
    assert path.read_text().endswith('"res')  # a live writer may be writing it
    assert repair_journal(path) == 3
    assert path.read_text() == whole
    assert repair_journal(path) is None


def test_later_duplicates_are_set_aside_and_the_first_of_each_id_kept(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    lines = ['{"id": "a", "v": 1}', '{"id": "b", "v": 2}', '{"id": "a", "v": 3}']
    path.write_text("\n".join([*lines, '{"id": "b", "v": 4}']) + "\n")

    kept, duplicates = first_of_each(read_journal(path))
    assert [r["v"] for _, r in kept] == [1, 2] and [n for n, _ in duplicates] == [3, 4]
    assert set_aside_duplicates(path) == ["a", "b"]
    assert path.read_text() == "\n".join(lines[:2]) + "\n"
    aside = tmp_path / "results.duplicates.jsonl"
    assert [line[-2] for line in aside.read_text().splitlines()] == ["3", "4"]
    assert set_aside_duplicates(path) == []
