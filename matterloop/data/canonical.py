"""Canonical cells: the Niggli-reduced primitive cell with coordinates wrapped into [0, 1)."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

# Å. Tighter than pymatgen's default (0.25 Å), which merges distorted supercells of MP-20 into
# cells that no longer match the input under StructureMatcher.
PRIMITIVE_TOLERANCE = 0.01


def canonicalize(structure: Structure, primitive: bool = True) -> Structure:
    """Return the Niggli-reduced (primitive) cell of ``structure`` with site properties dropped.

    The result describes the same crystal (it matches the input under ``StructureMatcher``), has a
    right-handed lattice and fractional coordinates in [0, 1).
    """
    reduced = structure.get_primitive_structure(PRIMITIVE_TOLERANCE) if primitive else structure
    reduced = reduced.get_reduced_structure("niggli")
    matrix, frac_coords = reduced.lattice.matrix, reduced.frac_coords
    if reduced.lattice.volume < 0 or np.linalg.det(matrix) < 0:
        # (-f)·(-L) = f·L: the same Cartesian sites in a right-handed cell.
        matrix, frac_coords = -matrix, -frac_coords
    return Structure(Lattice(matrix), reduced.species, frac_coords % 1.0)
