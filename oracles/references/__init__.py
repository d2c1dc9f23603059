"""Reference hulls shipped with the package, computed with ``matterloop reference build``.

Each ``<oracle>_mp20.json.gz`` comes with a ``.md`` card saying what was computed and how.
"""

from __future__ import annotations

import functools
import warnings
from importlib.resources import as_file, files
from pathlib import Path

from oracles.hull import ReferenceHull

SHIPPED_HULLS = {"chgnet": "chgnet_mp20.json.gz"}
"""Oracle name -> hull file in this package."""


@functools.cache
def shipped_hull(name: str = "chgnet") -> ReferenceHull:
    """The shipped MP-20 reference hull (total energies, eV/atom) of the oracle ``name``; read
    once per process (a hull is not changed by its use, and reading it takes seconds)."""
    if name not in SHIPPED_HULLS:
        shipped = ", ".join(SHIPPED_HULLS)
        raise ValueError(f"no shipped hull for oracle {name!r}; shipped: {shipped}")
    with as_file(files(__name__) / SHIPPED_HULLS[name]) as path:
        return ReferenceHull.load(path)


def load_hull(spec: str) -> ReferenceHull:
    """The hull of ``spec``: a hull file written by :meth:`ReferenceHull.save`, or the name of an
    oracle with a shipped hull (e.g. ``chgnet``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen: noble gases have no electronegativity
        if Path(spec).is_file():
            return ReferenceHull.load(spec)
        return shipped_hull(spec)
