"""Space-group templates, Wyckoff arrangements of training crystals and symmetry-constrained
sampling with them."""

from matterloop.generator.symmetry.arrangements import (
    ArrangementError,
    ArrangementTable,
    WyckoffArrangement,
)
from matterloop.generator.symmetry.projection import SymmetryProjection
from matterloop.generator.symmetry.templates import SymmetryTemplate, templates_by_group

__all__ = [
    "ArrangementError",
    "ArrangementTable",
    "SymmetryProjection",
    "SymmetryTemplate",
    "WyckoffArrangement",
    "templates_by_group",
]
