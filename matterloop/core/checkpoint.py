"""Checkpoint files: plain tensors and Python primitives, loaded without executing code.

Files are written atomically (temporary file + rename), so a crash while saving leaves the previous
checkpoint intact, and read with ``torch.load(..., weights_only=True)``, which refuses pickled
objects other than tensors and primitive containers: a file that would run code when unpickled is
an error, and its code never runs.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

import torch

from matterloop.core.atomic import atomic_path
from matterloop.core.errors import DataError


class CheckpointError(DataError):
    """A checkpoint that is missing, corrupt, or of another kind than expected."""


def save_checkpoint(payload: dict, path: Path) -> None:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        torch.save(payload, temporary)


def unreadable_reason(error: Exception) -> str:
    """A one-line reason for a failed weights-only ``torch.load`` (PyTorch's own messages span
    paragraphs and suggest ``weights_only=False``, which would run the file's code)."""
    text = str(error)
    refused = re.search(r"unsupported GLOBAL (\S+)", text)
    if refused:
        return (
            f"it holds a pickled Python object ({refused.group(1)}) that would run code when "
            "loaded; refused, only tensors and plain data are read"
        )
    if isinstance(error, pickle.UnpicklingError):
        return "not a PyTorch file of tensors and plain data (pickled objects are never loaded)"
    if isinstance(error, EOFError | zipfile.BadZipFile) or "central directory" in text:
        return "the file is truncated or corrupt"
    return text.splitlines()[0] if text else type(error).__name__


def load_tensors(path: Path) -> object:
    """``torch.load`` of ``path`` onto the CPU with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, a folder, empty, corrupt, or holds pickled objects
            other than tensors and plain data (refused without running them).
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: not a readable checkpoint (empty file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. about the pickle protocol of a foreign file
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({unreadable_reason(exc)})"
        ) from exc


def read_checkpoint(path: Path) -> dict:
    """Read a matterloop checkpoint of any kind from ``path`` onto the CPU.

    Raises:
        CheckpointError: the file is missing, unreadable or not a checkpoint.
    """
    payload = load_tensors(path)
    if not isinstance(payload, dict) or "kind" not in payload:
        raise CheckpointError(
            f"{path}: not a matterloop checkpoint (a PyTorch file without a 'kind' entry)"
        )
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
