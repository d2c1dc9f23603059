"""Shared fixtures: the MP-20 data directory and a per-session processed-data cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.data.paths import resolve_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory holding ``mp_20/``: ``$MATTERLOOP_DATA_DIR``, else ``../shared/data``."""
    directory = resolve_data_dir() if os.environ.get("MATTERLOOP_DATA_DIR") else None
    directory = directory or REPO_ROOT.parent / "shared" / "data"
    if not (directory / "mp_20").is_dir():
        pytest.fail(f"MP-20 not found under {directory}; set MATTERLOOP_DATA_DIR")
    return directory


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """A processed-split cache shared by the tests of one session (starts empty)."""
    return tmp_path_factory.mktemp("cache")
