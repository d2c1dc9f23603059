"""Space-group templates of training crystals and symmetry-constrained sampling with them."""

from generator.symmetry.projection import SymmetryProjection
from generator.symmetry.templates import SymmetryTemplate, templates_by_group

__all__ = ["SymmetryProjection", "SymmetryTemplate", "templates_by_group"]
