"""Reference hulls shipped with the package, computed with ``matterloop reference build``.

Each ``<oracle>_mp20.json.gz`` comes with a ``.md`` card saying what was computed and how. The
shipped file holds the oracle's energies of the MP-20 structures with positions; the hull a
campaign or ``generator evaluate`` uses by default is the *complete* one, which adds every MP-20
entry without positions (:meth:`~matterloop.oracles.hull.ReferenceHull.completed_with_mp20`; it
reads MP-20's labels from the data folder).
"""

from __future__ import annotations

import functools
import os
import warnings
from importlib.resources import as_file, files
from pathlib import Path

from matterloop.data.paths import resolve_data_dir
from matterloop.oracles.hull import ReferenceHull

SHIPPED_HULLS = {"chgnet": "chgnet_mp20.json.gz"}
"""Oracle name -> hull file in this package."""


@functools.cache
def shipped_hull(name: str = "chgnet") -> ReferenceHull:
    """The shipped MP-20 reference hull (total energies, eV/atom) of the oracle ``name``, the
    structures with positions only; read once per process (a hull is not changed by its use, and
    reading it takes seconds)."""
    if name not in SHIPPED_HULLS:
        shipped = ", ".join(SHIPPED_HULLS)
        raise ValueError(
            f"no shipped hull for oracle {name!r} (shipped: {shipped}); build one with "
            f"`matterloop reference build --oracle {name}` and pass its file"
        )
    with as_file(files(__name__) / SHIPPED_HULLS[name]) as path:
        return ReferenceHull.load(path)


@functools.cache
def _complete_hull(name: str, data_dir: Path) -> ReferenceHull:
    return shipped_hull(name).completed_with_mp20(data_dir)


def complete_hull(name: str = "chgnet", data_dir: str | os.PathLike | None = None) -> ReferenceHull:
    """The shipped hull of the oracle ``name`` completed with every MP-20 entry (read once per
    process and data folder)."""
    return _complete_hull(name, resolve_data_dir(data_dir).resolve())


def load_hull(spec: str, data_dir: str | os.PathLike | None = None) -> ReferenceHull:
    """The hull of ``spec``: a hull file written by :meth:`ReferenceHull.save` (used as it is),
    or the name of an oracle with a shipped hull (e.g. ``chgnet``), completed with all MP-20
    entries from ``data_dir`` (default ``MATTERLOOP_DATA_DIR``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen: noble gases have no electronegativity
        if Path(spec).is_file():
            return ReferenceHull.load(spec)
        return complete_hull(spec, data_dir)
