"""Small crystals for the data tests."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure


@pytest.fixture
def rocksalt() -> Structure:
    """Conventional NaCl: 8 atoms, whose primitive cell has 2."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture
def silicon() -> Structure:
    return Structure(
        Lattice([[0, 2.734, 2.734], [2.734, 0, 2.734], [2.734, 2.734, 0]]),
        ["Si", "Si"],
        [[0, 0, 0], [0.25, 0.25, 0.25]],
    )
