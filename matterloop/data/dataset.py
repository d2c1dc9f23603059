"""Datasets of canonical crystals, cached on disk after the first read.

The first read of a file parses every CIF and reduces it to its Niggli-reduced primitive cell
(seconds per thousand structures); the result is stored as a NumPy archive (no pickled objects)
keyed by the file's path, size and modification time, so later reads take well under a second.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Lattice, Structure
from rich.progress import track

from matterloop.core.atomic import atomic_path
from matterloop.data.paths import canonical_dataset_name, resolve_cache_dir, split_path
from matterloop.data.quantities import stored_names
from matterloop.data.readers import MAX_ATOMIC_NUMBER, finish_crystal, iter_raw_crystals
from matterloop.data.records import CrystalRecord, SkipReport
from matterloop.data.tensors import CrystalTensors

CACHE_FORMAT = 1  # bump when the reading or canonicalization changes what is stored
PARALLEL_CHUNK = 64  # crystals per task sent to a worker process


@dataclass
class CrystalDataset(torch.utils.data.Dataset):
    """``B`` labeled crystals in flat arrays (``n`` atoms in all).

    Attributes:
        material_ids: ``B`` identifiers.
        atomic_numbers: ``(n,)`` Z of every atom, crystal after crystal.
        frac_coords: ``(n, 3)`` fractional coordinates in [0, 1).
        lattices: ``(B, 3, 3)`` lattice vectors as rows, Å.
        num_atoms: ``(B,)`` atoms per crystal.
        property_names: the ``P`` label names.
        property_values: ``(B, P)`` labels, ``nan`` where missing.
        skipped: rows of the source that were not used, and why.
    """

    material_ids: list[str]
    atomic_numbers: np.ndarray
    frac_coords: np.ndarray
    lattices: np.ndarray
    num_atoms: np.ndarray
    property_names: list[str]
    property_values: np.ndarray
    skipped: SkipReport

    def __post_init__(self) -> None:
        self.offsets = np.concatenate([[0], np.cumsum(self.num_atoms)])

    def __len__(self) -> int:
        return len(self.material_ids)

    def _sites(self, index: int) -> slice:
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def __getitem__(self, index: int) -> CrystalTensors:
        sites = self._sites(index)
        return CrystalTensors(
            atomic_numbers=torch.as_tensor(self.atomic_numbers[sites], dtype=torch.long),
            frac_coords=torch.as_tensor(self.frac_coords[sites], dtype=torch.float32),
            lattice=torch.as_tensor(self.lattices[index], dtype=torch.float32),
            properties=self.properties_of(index),
        )

    def properties_of(self, index: int) -> dict[str, float]:
        return dict(zip(self.property_names, self.property_values[index].tolist(), strict=True))

    def property(self, name: str) -> np.ndarray:
        """``(B,)`` values of the label ``name``, stored under it or any other name of its
        quantity (:func:`matterloop.data.quantities.stored_names`: ``magnetic_density``
        reads MP-20's ``dft_mag_density``)."""
        stored = next((n for n in stored_names(name) if n in self.property_names), None)
        if stored is None:
            raise KeyError(f"no property {name!r}; available: {', '.join(self.property_names)}")
        return self.property_values[:, self.property_names.index(stored)]

    def structure(self, index: int) -> Structure:
        sites = self._sites(index)
        return Structure(
            Lattice(self.lattices[index]),
            self.atomic_numbers[sites].tolist(),
            self.frac_coords[sites],
        )

    def structures(self) -> list[Structure]:
        return [self.structure(i) for i in range(len(self))]

    def record(self, index: int) -> CrystalRecord:
        return CrystalRecord(
            self.structure(index), self.material_ids[index], self.properties_of(index)
        )

    @classmethod
    def from_records(cls, records: Sequence[CrystalRecord], skipped: SkipReport) -> CrystalDataset:
        names = sorted({name for record in records for name in record.properties})
        structures = [record.structure for record in records]
        return cls(
            material_ids=[record.material_id for record in records],
            atomic_numbers=np.array(
                [z for s in structures for z in s.atomic_numbers], dtype=np.int16
            ),
            frac_coords=np.concatenate([np.zeros((0, 3))] + [s.frac_coords for s in structures]),
            lattices=np.array([s.lattice.matrix for s in structures]).reshape(-1, 3, 3),
            num_atoms=np.array([len(s) for s in structures], dtype=np.int64),
            property_names=names,
            property_values=np.array(
                [[record.property(name) for name in names] for record in records], dtype=float
            ).reshape(len(records), len(names)),
            skipped=skipped,
        )

    def select(self, indices: Sequence[int]) -> CrystalDataset:
        """The crystals at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        sites = np.concatenate(
            [np.arange(self.offsets[i], self.offsets[i + 1]) for i in indices] or [[]]
        ).astype(np.int64)
        return CrystalDataset(
            material_ids=[self.material_ids[i] for i in indices],
            atomic_numbers=self.atomic_numbers[sites],
            frac_coords=self.frac_coords[sites],
            lattices=self.lattices[indices],
            num_atoms=self.num_atoms[indices],
            property_names=list(self.property_names),
            property_values=self.property_values[indices],
            skipped=self.skipped,
        )

    @classmethod
    def concatenate(cls, datasets: Sequence[CrystalDataset]) -> CrystalDataset:
        """One dataset of all crystals; labels missing from a part are ``nan`` there."""
        names = sorted({name for d in datasets for name in d.property_names})
        values = [
            np.stack(
                [
                    d.property(name) if name in d.property_names else np.full(len(d), np.nan)
                    for name in names
                ],
                axis=1,
            ).reshape(len(d), len(names))
            for d in datasets
        ]
        skipped = SkipReport(", ".join(d.skipped.source for d in datasets))
        for d in datasets:
            skipped.counts.update(d.skipped.counts)
            for reason, examples in d.skipped.examples.items():
                skipped.examples.setdefault(reason, []).extend(examples)
        return cls(
            material_ids=[i for d in datasets for i in d.material_ids],
            atomic_numbers=np.concatenate([d.atomic_numbers for d in datasets]),
            frac_coords=np.concatenate([d.frac_coords for d in datasets]),
            lattices=np.concatenate([d.lattices for d in datasets]),
            num_atoms=np.concatenate([d.num_atoms for d in datasets]),
            property_names=names,
            property_values=np.concatenate(values),
            skipped=skipped,
        )

    def save(self, path: Path) -> None:
        """Write atomically as a NumPy archive (no pickled objects)."""
        with atomic_path(path) as temporary, open(temporary, "wb") as handle:
            np.savez(
                handle,
                material_ids=np.array(self.material_ids, dtype=str),
                atomic_numbers=self.atomic_numbers,
                frac_coords=self.frac_coords,
                lattices=self.lattices,
                num_atoms=self.num_atoms,
                property_names=np.array(self.property_names, dtype=str),
                property_values=self.property_values,
                skipped=np.array(json.dumps(self.skipped.to_dict())),
            )

    @classmethod
    def load(cls, path: Path) -> CrystalDataset:
        with np.load(path, allow_pickle=False) as archive:
            return cls(
                material_ids=archive["material_ids"].tolist(),
                atomic_numbers=archive["atomic_numbers"],
                frac_coords=archive["frac_coords"],
                lattices=archive["lattices"],
                num_atoms=archive["num_atoms"],
                property_names=archive["property_names"].tolist(),
                property_values=archive["property_values"],
                skipped=SkipReport.from_dict(json.loads(str(archive["skipped"]))),
            )


def cache_key(paths: Sequence[Path], canonical: bool) -> str:
    """A digest of the sources' identity (path, size, mtime) and of how they are processed."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}:{canonical}:{MAX_ATOMIC_NUMBER}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"|{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:20]


def read_records(
    paths: Sequence[Path], canonical: bool = True, progress: bool = True, workers: int | None = None
) -> tuple[list[CrystalRecord], SkipReport]:
    """Parse, check and (optionally) canonicalize every crystal of ``paths``.

    Args:
        workers: processes for parsing; default one per CPU core. Order is kept.
    """
    skipped = SkipReport(", ".join(p.name for p in paths))
    raws = list(iter_raw_crystals(paths, skipped))
    workers = min(workers or os.cpu_count() or 1, max(1, len(raws) // PARALLEL_CHUNK))
    finish = partial(finish_crystal, canonical=canonical)
    with ExitStack() as stack:
        if workers > 1:
            # fork: workers only parse text with pymatgen, and fork needs no `__main__` guard
            # in the caller's script (spawn does).
            context = get_context("fork")
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=context))
            results = pool.map(finish, raws, chunksize=PARALLEL_CHUNK)
        else:
            results = map(finish, raws)
        if progress:
            results = track(
                results, total=len(raws), description=f"reading {skipped.source}", transient=True
            )
        records = []
        for raw, result in zip(raws, results, strict=True):
            if isinstance(result, str):
                skipped.add(result, raw.identifier)
            else:
                records.append(result)
    return records, skipped


def load_structures_file(
    paths: Path | Sequence[Path],
    canonical: bool = True,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = True,
) -> CrystalDataset:
    """A dataset from CSV, CIF or extxyz files (a directory stands for its CIF files).

    Args:
        paths: one path or several.
        canonical: reduce every crystal to its Niggli-reduced primitive cell.
        cache_dir: where processed files are cached (see :func:`resolve_cache_dir`).
        use_cache: read from and write to the cache.
        progress: show a progress bar while parsing.
    """
    paths = [Path(paths)] if isinstance(paths, str | os.PathLike) else [Path(p) for p in paths]
    cache_file = None
    if use_cache and all(p.is_file() for p in paths):
        stem = "-".join(p.name.split(".")[0] for p in paths)[:60]
        key = cache_key(paths, canonical)
        cache_file = resolve_cache_dir(cache_dir) / "processed" / f"{stem}-{key}.npz"
        if cache_file.is_file():
            return CrystalDataset.load(cache_file)
    records, skipped = read_records(paths, canonical=canonical, progress=progress)
    dataset = CrystalDataset.from_records(records, skipped)
    if cache_file is not None:
        dataset.save(cache_file)
    return dataset


def load_dataset_split(
    dataset: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    **kwargs,
) -> CrystalDataset:
    """A split (``train``/``val``/``test``) of a named dataset (``mp_20``) under the data dir.

    Keyword arguments go to :func:`load_structures_file`.
    """
    canonical_dataset_name(dataset)
    return load_structures_file(split_path(dataset, split, data_dir), **kwargs)
