"""Where datasets live on disk.

The data directory is, in order of precedence: an explicit argument (``--data-dir``), the
environment variable ``MATTERLOOP_DATA_DIR``, or ``$XDG_DATA_HOME/matterloop`` (default
``~/.local/share/matterloop``). Processed caches go to ``MATTERLOOP_CACHE_DIR`` or
``$XDG_CACHE_HOME/matterloop`` so that a read-only data directory works.
"""

from __future__ import annotations

import os
from pathlib import Path

from matterloop.core.errors import DataError

DATA_DIR_ENV = "MATTERLOOP_DATA_DIR"
CACHE_DIR_ENV = "MATTERLOOP_CACHE_DIR"

DATASET_ALIASES = {"mp_20": "mp_20", "mp20": "mp_20", "mp-20": "mp_20"}
SPLITS = ("train", "val", "test")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory from the argument, ``MATTERLOOP_DATA_DIR`` or the XDG default."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "matterloop"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The directory for processed-split caches."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "matterloop"


def canonical_dataset_name(name: str) -> str:
    """``mp20``/``mp-20``/``mp_20`` -> ``mp_20``; raises :class:`DataError` for unknown names."""
    try:
        return DATASET_ALIASES[name.lower()]
    except KeyError:
        known = ", ".join(sorted(set(DATASET_ALIASES.values())))
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}") from None


def split_candidates(dataset: str, split: str, data_dir: Path) -> list[Path]:
    """Files that may hold a split: this project's layout first, then CDVAE's."""
    root = data_dir / canonical_dataset_name(dataset)
    return [
        root / "structures" / f"{split}.csv.gz",
        root / "structures" / f"{split}.csv",
        root / f"{split}.csv.gz",
        root / f"{split}.csv",
    ]


def split_path(dataset: str, split: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The file holding ``split`` of ``dataset``; a clear error names every path that was tried."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    directory = resolve_data_dir(data_dir)
    candidates = split_candidates(dataset, split, directory)
    for path in candidates:
        if path.is_file():
            return path
    tried = "\n  ".join(str(p) for p in candidates)
    raise DataError(
        f"no {split} split of {canonical_dataset_name(dataset)} under {directory}; "
        f"tried:\n  {tried}\n"
        f"Set --data-dir or {DATA_DIR_ENV}, or download it with `matterloop data fetch`."
    )
