"""A child process that labels structures one at a time and can be killed.

The child is started with ``spawn`` (safe with threaded numerical libraries), receives the oracle
once, builds its calculator once and then serves one structure per request. A request's time limit
starts when the child has reported itself ready (its imports done), so the seconds a fresh child
needs to start on a busy machine are not counted against a structure; starting is bounded on its
own (:data:`STARTUP_TIMEOUT_S`). When a request takes longer than its time limit the child is
killed and the next request starts a fresh one; when the child dies (segfault, out of memory,
``os._exit``) the request reports how it died.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from pymatgen.core import Structure

from matterloop.core.result import FailureKind, OracleFailure

Task = Callable[[Structure], dict[str, Any]]
"""Labels one structure and returns a picklable reply; must itself turn errors into replies."""

STARTUP_TIMEOUT_S = 600.0
"""Longest wait for a fresh child to report itself ready, s."""


def serve(conn: Connection, task: Task) -> None:
    """The child's loop: report ready, then one structure (as a dict) in, one reply out, until the
    pipe closes."""
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        try:
            conn.send(("ok", task(Structure.from_dict(request))))
        except Exception as error:  # a bug in the task must not end the worker
            conn.send(("error", f"{type(error).__name__}: {error}"))


class WorkerProcess:
    """One long-lived child process running ``task``; see the module docstring."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.process: mp.Process | None = None
        self.conn: Connection | None = None

    def start(self) -> None:
        """Start the child and wait until it is ready.

        Raises :class:`OracleFailure` with kind ``WORKER_CRASHED`` if it dies or is not ready
        within :data:`STARTUP_TIMEOUT_S`.
        """
        context = mp.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child, self.task), daemon=True)
        try:
            process.start()
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self.process = process  # only a started process, which stop() can join
        self.conn = parent
        if not parent.poll(STARTUP_TIMEOUT_S):
            self.stop()
            raise OracleFailure(
                FailureKind.WORKER_CRASHED,
                f"worker process not ready within {STARTUP_TIMEOUT_S:g} s",
            )
        self.receive()

    def receive(self) -> tuple[str, Any]:
        """The child's next message; raises a ``WORKER_CRASHED`` failure if it died."""
        assert self.conn is not None and self.process is not None
        try:
            return self.conn.recv()
        except EOFError:
            self.process.join(5)
            code = self.process.exitcode
            self.stop()
            raise OracleFailure(
                FailureKind.WORKER_CRASHED, f"worker process died (exit code {code})"
            ) from None

    def run(self, structure: Structure, timeout_s: float | None) -> dict[str, Any]:
        """The task's reply for ``structure``.

        Raises :class:`OracleFailure` with kind ``TIMEOUT`` (the child is killed),
        ``WORKER_CRASHED`` (the child died; a fresh one serves the next request) or
        ``CALCULATOR_ERROR`` (the task raised instead of replying).
        """
        if self.process is None or not self.process.is_alive():
            self.start()
        assert self.conn is not None and self.process is not None
        self.conn.send(structure.as_dict())
        if not self.conn.poll(timeout_s):
            self.stop()
            raise OracleFailure(FailureKind.TIMEOUT, f"no result within {timeout_s:g} s")
        status, reply = self.receive()
        if status == "error":
            raise OracleFailure(FailureKind.CALCULATOR_ERROR, f"in the worker: {reply}")
        return reply

    def stop(self) -> None:
        """End the child: politely if it is idle, by SIGKILL if it has not exited 0.5 s later."""
        if self.process is None:
            return
        if self.conn is not None:
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.conn.close()
        self.process.join(0.5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.process.close()
        self.process = None
        self.conn = None
