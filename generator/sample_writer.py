"""Generated structures streamed to disk batch by batch.

Each batch is written as CIF files (``sample_00000.cif``, …) and one extxyz part file, the part last
and atomically, so a crash loses at most the batch in flight; a later run into the same folder
continues after the last complete batch. :meth:`SampleWriter.finish` joins the parts into
``samples.extxyz``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ase.io import read, write
from pymatgen.core import Structure
from pymatgen.io.ase import AseAtomsAdaptor

from matterloop.core.atomic import atomic_path
from matterloop.data.readers import read_cif_file, read_extxyz_frames

PARTS_DIR = "parts"
EXTXYZ_NAME = "samples.extxyz"


class SampleWriter:
    """Writes samples into ``directory``; ``num_written`` counts complete batches' structures."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.parts = self.directory / PARTS_DIR
        self.parts.mkdir(parents=True, exist_ok=True)

    def part_files(self) -> list[Path]:
        return sorted(self.parts.glob("batch_*.extxyz"))

    @property
    def num_written(self) -> int:
        return sum(len(read(part, index=":", format="extxyz")) for part in self.part_files())

    def write_batch(self, structures: Sequence[Structure], info: Sequence[dict] = ()) -> None:
        """Write one batch: its CIF files, then its extxyz part (atomically)."""
        start = self.num_written
        frames = []
        for offset, structure in enumerate(structures):
            name = f"sample_{start + offset:05d}"
            structure.to(filename=str(self.directory / f"{name}.cif"))
            atoms = AseAtomsAdaptor.get_atoms(structure)
            atoms.info["name"] = name
            atoms.info.update(info[offset] if info else {})
            frames.append(atoms)
        index = len(self.part_files())
        with atomic_path(self.parts / f"batch_{index:05d}.extxyz") as temporary:
            write(temporary, frames, format="extxyz")

    def finish(self) -> Path:
        """Join every part into ``samples.extxyz``; returns its path."""
        frames = [
            atoms for part in self.part_files() for atoms in read(part, index=":", format="extxyz")
        ]
        target = self.directory / EXTXYZ_NAME
        with atomic_path(target) as temporary:
            write(temporary, frames, format="extxyz")
        return target


def read_samples(path: Path) -> tuple[list[str], list[Structure]]:
    """Names and structures of samples, unchecked: a folder (its ``samples.extxyz``, else its CIF
    files), an extxyz file or a CIF file. Invalid structures are returned as they are, so that
    evaluation can count them; a file that cannot be read raises :class:`DataError` naming it."""
    path = Path(path)
    if path.is_dir() and (path / EXTXYZ_NAME).is_file():
        path = path / EXTXYZ_NAME
    if path.is_dir():
        files = sorted(path.glob("*.cif"))
        return [f.stem for f in files], [read_cif_file(f) for f in files]
    if path.suffix == ".cif":
        return [path.stem], [read_cif_file(path)]
    frames = read_extxyz_frames(path)
    names = [str(a.info.get("name", f"{path.stem}:{i}")) for i, a in enumerate(frames)]
    return names, [AseAtomsAdaptor.get_structure(a) for a in frames]
