"""Space-group templates, Wyckoff arrangements of training crystals and symmetry-constrained
sampling with them."""

from generator.symmetry.arrangements import ArrangementError, ArrangementTable, WyckoffArrangement
from generator.symmetry.projection import SymmetryProjection
from generator.symmetry.templates import SymmetryTemplate, templates_by_group

__all__ = [
    "ArrangementError",
    "ArrangementTable",
    "SymmetryProjection",
    "SymmetryTemplate",
    "WyckoffArrangement",
    "templates_by_group",
]
