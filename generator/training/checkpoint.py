"""Checkpoint files: plain tensors and Python primitives, loaded without executing code.

Files are written atomically (temporary file + rename), so a crash while saving leaves the previous
checkpoint intact, and read with ``torch.load(..., weights_only=True)``, which refuses pickled
objects other than tensors and primitive containers.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from generator.data.atomic import atomic_path
from generator.data.errors import DataError


class CheckpointError(DataError):
    """A checkpoint that is missing, corrupt, or of another kind than expected."""


def save_checkpoint(payload: dict, path: Path) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def read_checkpoint(path: Path) -> dict:
    """Read a matterloop checkpoint of any kind from ``path`` onto the CPU.

    Raises:
        CheckpointError: the file is missing, unreadable or not a checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or "kind" not in payload:
        raise CheckpointError(f"{path}: not a matterloop checkpoint")
    return payload


def load_checkpoint(path: Path, kind: str) -> dict:
    """Read a checkpoint of ``kind`` (its ``"kind"`` entry) from ``path`` onto the CPU.

    Raises:
        CheckpointError: the file is missing, unreadable, not a checkpoint, or of another kind.
    """
    payload = read_checkpoint(path)
    if payload["kind"] != kind:
        raise CheckpointError(f"{path}: a {payload['kind']!r} checkpoint, expected {kind!r}")
    return payload
