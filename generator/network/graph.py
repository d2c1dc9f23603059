"""All ordered atom pairs within each crystal of a batch."""

from __future__ import annotations

import torch


def crystal_pairs(num_atoms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(src, dst)``, each ``(E,)`` with ``E = Σ N_b²``, of every ordered pair of atoms of
    the same crystal, self-pairs included, in the concatenated atom order of a ``CrystalBatch``.
    """
    pairs_per_crystal = num_atoms**2
    crystal = torch.repeat_interleave(
        torch.arange(num_atoms.shape[0], device=num_atoms.device), pairs_per_crystal
    )
    pair_start = torch.cumsum(pairs_per_crystal, 0) - pairs_per_crystal
    local = torch.arange(crystal.shape[0], device=num_atoms.device) - pair_start[crystal]
    atom_start = (torch.cumsum(num_atoms, 0) - num_atoms)[crystal]
    size = num_atoms[crystal]
    return atom_start + local // size, atom_start + local % size
