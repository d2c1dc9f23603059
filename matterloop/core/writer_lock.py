"""One writer per store: an exclusive lock on a campaign directory or a results file.

Everything that appends to a store (``matterloop run`` to a campaign directory, ``oracle run``
and ``reference build`` to a results file, ``generator sample`` to an output folder) holds its
lock for as long as it writes. The lock is an OS lock (``fcntl.flock``) on a small file beside
the data — ``<directory>/.writer.lock`` or ``<file>.lock`` — that holds the writer's host, PID,
command and start time. The operating system releases it when the process ends however it ends
(a kill, a crash, a lost node), so a lock left by a dead process is simply taken over by the
next writer; a second writer while the first lives stops at once with
:class:`StoreLockedError`, naming the holder. Readers (``status``, ``pareto``, ``report``,
``ui``) take no lock.

``flock`` locks are advisory and per host on most network file systems: writers on two machines
sharing one campaign directory over NFS are kept apart only where the file system forwards
``flock`` (Linux NFSv4 does).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from matterloop.core.errors import MatterloopError

DIRECTORY_LOCK = ".writer.lock"


class StoreLockedError(MatterloopError):
    """Another live process writes to the store."""


def lock_path(store: Path, directory: bool) -> Path:
    """The lock file of ``store``: inside it for a ``directory``, beside it for a file."""
    store = Path(store)
    return store / DIRECTORY_LOCK if directory else store.with_name(store.name + ".lock")


def holder_of(path: Path) -> dict[str, Any]:
    """What the lock file ``path`` says of its last holder (empty if unreadable)."""
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def describe(holder: dict[str, Any]) -> str:
    """``PID 123 on host (`matterloop run …`, since 2026-12-06 14:02:11)``."""
    if not holder:
        return "another process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (
        f"PID {holder.get('pid')} on {holder.get('host')} "
        f"(`{holder.get('command', '?')}`, since {since})"
    )


@contextmanager
def exclusive_writer(store: Path, directory: bool = False) -> Iterator[dict[str, Any]]:
    """Hold the write lock of ``store``, a ``directory`` or a file, while the block runs; yields
    what the lock file said of its previous holder (a dead process, or a finished one), empty
    if none.

    Raises:
        StoreLockedError: a live process holds the lock; the message names it.
    """
    path = lock_path(store, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreLockedError(
                f"{store} is being written by {describe(holder_of(path))}; one writer at a "
                "time: wait for it to finish or stop it (its lock goes with the process)"
            ) from None
        previous = holder_of(path)
        handle.seek(0)
        handle.truncate()
        handle.write(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
                    "since": time.time(),
                }
            )
        )
        handle.flush()
        yield previous
    finally:
        handle.close()  # closing the descriptor releases the lock
