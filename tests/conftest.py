"""Shared fixtures: the MP-20 data directory, a per-session processed-data cache and the example
oracle plug-in installed."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matterloop.data.paths import resolve_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN = REPO_ROOT / "examples" / "matterloop_example_oracle"


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


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> None:
    """pip-installs the example plug-in package into this environment (no dependencies), from a
    copy so that the build leaves nothing in the source tree."""
    source = shutil.copytree(PLUGIN, tmp_path_factory.mktemp("plugin") / PLUGIN.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            str(source),
        ],
        check=True,
    )
    importlib.invalidate_caches()
