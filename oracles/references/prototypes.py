"""Ground-state structures of elements that MP-20 holds without positions.

MP-20's pure-element entries of Ac, Al, Au, Eu, Ge, Lu, Mo, Os, Pa, Pt, Th, U and V are all in the
part of its train split that has no positions here. Their reference structures are built from the
experimental room-temperature ground state (the structure of Materials Project's ground state for
each), with lattice parameters in Å; relaxed with the oracle, they stand in for the missing entries.
"""

from __future__ import annotations

from pymatgen.core import Lattice, Structure


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def bcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Im-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def hcp(element: str, a: float, c: float) -> Structure:
    lattice = Lattice.hexagonal(a, c)
    return Structure.from_spacegroup("P6_3/mmc", lattice, [element], [[1 / 3, 2 / 3, 0.25]])


def diamond(element: str, a: float) -> Structure:
    vectors = [[0.0, a / 2, a / 2], [a / 2, 0.0, a / 2], [a / 2, a / 2, 0.0]]
    return Structure(Lattice(vectors), [element] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])


def protactinium() -> Structure:
    """Body-centred tetragonal Pa (I4/mmm)."""
    lattice = Lattice.tetragonal(3.925, 3.238)
    return Structure.from_spacegroup("I4/mmm", lattice, ["Pa"], [[0, 0, 0]])


def alpha_uranium() -> Structure:
    """α-U (Cmcm, U on 4c with y = 0.1025)."""
    lattice = Lattice.orthorhombic(2.854, 5.869, 4.955)
    return Structure.from_spacegroup("Cmcm", lattice, ["U"], [[0, 0.1025, 0.25]])


PROTOTYPES = {
    "Ac": lambda: fcc("Ac", 5.31),
    "Al": lambda: fcc("Al", 4.05),
    "Au": lambda: fcc("Au", 4.08),
    "Eu": lambda: bcc("Eu", 4.58),
    "Ge": lambda: diamond("Ge", 5.66),
    "Lu": lambda: hcp("Lu", 3.505, 5.549),
    "Mo": lambda: bcc("Mo", 3.147),
    "Os": lambda: hcp("Os", 2.734, 4.317),
    "Pa": protactinium,
    "Pt": lambda: fcc("Pt", 3.92),
    "Th": lambda: fcc("Th", 5.08),
    "U": alpha_uranium,
    "V": lambda: bcc("V", 3.03),
}
"""Element -> its ground-state structure (conventional cell)."""


def prototype(element: str) -> Structure | None:
    """The primitive cell of ``element``'s ground-state structure, if tabulated here."""
    build = PROTOTYPES.get(element)
    return None if build is None else build().get_primitive_structure()
