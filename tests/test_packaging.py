"""The distribution installs one import package, ``matterloop``, whose subpackages keep the
repository's top-level folders (``agent/``, ``generator/``, ``surrogates/``, ``oracles/``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = [
    "pyproject.toml",
    "README.md",
    "matterloop",
    "agent",
    "generator",
    "surrogates",
    "oracles",
]


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (an in-tree build would write into the checkout)."""
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy(REPO / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*command, "-w", str(tmp_path / "dist"), str(source)], check=True)
    (wheel,) = (tmp_path / "dist").glob("matterloop-*.whl")
    return wheel


def wheel_path(source: Path) -> str:
    """Where a source file lands in the wheel: ``agent/cli/main.py`` as
    ``matterloop/agent/cli/main.py``, ``matterloop/core/errors.py`` where it is."""
    relative = source.relative_to(REPO)
    if relative.parts[0] != "matterloop":
        relative = Path("matterloop") / relative
    return relative.as_posix()


def test_the_wheel_installs_only_matterloop(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top = {name.split("/")[0] for name in names}
        (dist_info,) = top - {"matterloop"}
        assert top == {"matterloop", dist_info} and dist_info.endswith(".dist-info")
        for data in (
            "matterloop/agent/cli/main.py",
            "matterloop/agent/campaign/quickstart.yaml",
            "matterloop/generator/pretrained/mp20_base.pt",
            "matterloop/generator/pretrained/mp20_arrangements.json.gz",
            "matterloop/generator/training/trainer.py",
            "matterloop/surrogates/pretrained/mp20_tensornet/network/model.pt",
            "matterloop/oracles/references/chgnet_mp20.json.gz",
        ):
            assert data in names, data
        modules = {wheel_path(p) for folder in SOURCES[2:] for p in (REPO / folder).rglob("*.py")}
        left_out = sorted(modules - set(names))
        assert not left_out, f"not in the wheel (pyproject's packages): {left_out}"
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
        assert "matterloop = matterloop.agent.cli:main" in entry_points

        # a fresh environment with matterloop alone: a wheel installs by unpacking (PEP 427)
        venv = tmp_path / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        (site,) = venv.glob("lib/python3*/site-packages")
        archive.extractall(site)
    python = str(venv / "bin" / "python")
    for name in ("agent", "generator", "surrogates", "oracles"):
        found = subprocess.run(
            [python, "-c", f"import {name}"], cwd=tmp_path, capture_output=True, text=True
        )
        assert found.returncode == 1 and f"No module named '{name}'" in found.stderr
    found = subprocess.run(
        [python, "-c", "import matterloop; print(matterloop.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert found.stdout.strip() == str(site / "matterloop" / "__init__.py"), found.stderr
