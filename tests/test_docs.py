"""The documentation cannot drift: the configuration reference is what the schemas produce, and
every command in the README is run here or names the test that runs it.

A fenced block in the README says how it is exercised in its info string: blocks marked
``runnable`` (``bash runnable``, ``python runnable``) run here, in order, in one scratch folder
that has the repository's ``configs/`` and ``examples/``; ``bash tested-by=PATH`` names the test
or script (relative to the repository) that runs those commands. A shell block with neither fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from matterloop.agent.config_reference import configuration_reference

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELLS = {"bash", "sh", "console"}


@dataclass(frozen=True)
class Block:
    language: str
    markers: tuple[str, ...]
    code: str
    line: int

    @property
    def runnable(self) -> bool:
        return "runnable" in self.markers

    @property
    def tested_by(self) -> str | None:
        found = [m.split("=", 1)[1] for m in self.markers if m.startswith("tested-by=")]
        return found[0] if found else None

    def commands(self) -> list[str]:
        """The block's commands, comments and continuation lines joined."""
        joined = self.code.replace("\\\n", " ")
        lines = (line.split("#", 1)[0].strip() for line in joined.splitlines())
        return [line for line in lines if line]


def readme_blocks() -> list[Block]:
    text = README.read_text()
    return [
        Block(
            match.group(1),
            tuple(match.group(2).split()),
            match.group(3),
            text.count("\n", 0, match.start()) + 1,
        )
        for match in FENCE.finditer(text)
    ]


SHELL_BLOCKS = [b for b in readme_blocks() if b.language in SHELLS]
RUNNABLE = [b for b in readme_blocks() if b.runnable]


def test_configuration_reference_is_current() -> None:
    written = (REPO / "docs" / "configuration.md").read_text()
    assert written == configuration_reference(), (
        "docs/configuration.md is stale; regenerate it with "
        "`matterloop config reference --out docs/configuration.md`"
    )


def test_readme_links_the_configuration_reference() -> None:
    assert "docs/configuration.md" in README.read_text()


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: f"README-line-{b.line}")
def test_every_shell_block_is_exercised(block: Block) -> None:
    assert block.runnable or block.tested_by, (
        f"README line {block.line}: mark the block `runnable` or `tested-by=PATH`"
    )
    if block.tested_by:
        target = REPO / block.tested_by
        assert target.is_file(), f"README line {block.line}: {block.tested_by} does not exist"
        text = target.read_text()
        for command in block.commands():
            words = command.split()
            if words[0] != "matterloop":
                continue
            subcommand = []
            for word in words[1:3]:
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                subcommand.append(word)
            assert all(w in text for w in subcommand), (
                f"README line {block.line}: {block.tested_by} does not run `{command}`"
            )


def test_make_run_is_the_quickstart() -> None:
    """`make run` is the install plus `matterloop run` without a config, which the README's
    runnable quickstart block runs."""
    plan = subprocess.run(
        ["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"matterloop run\s*$", plan, re.MULTILINE), plan
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir: Path, session_cache: Path) -> tuple[Path, dict]:
    """A scratch folder with the repository's configs and examples, and the environment the
    README's commands run in (the project's virtual environment first on PATH)."""
    directory = tmp_path_factory.mktemp("readme")
    for name in ("configs", "examples"):
        (directory / name).symlink_to(REPO / name)
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "MATTERLOOP_DATA_DIR": str(data_dir),
        "MATTERLOOP_CACHE_DIR": str(session_cache),
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "MPLBACKEND": "Agg",
    }
    return directory, environment


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: f"README-line-{b.line}")
def test_runnable_block(block: Block, workdir: tuple[Path, dict]) -> None:
    directory, environment = workdir
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = ["bash", "-euo", "pipefail", "-c", block.code]
    finished = subprocess.run(
        command,
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert finished.returncode == 0, (
        f"README line {block.line} failed ({finished.returncode}):\n"
        f"{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}"
    )
    assert "Traceback" not in finished.stderr
