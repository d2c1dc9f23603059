"""Symmetry-constrained sampling: after every step of the reverse process, each crystal is
projected onto the crystals invariant under its template's operations (the group average, or
Reynolds operator), with its template's Wyckoff positions, so that it ends in the template's
space group or a supergroup of it.

For a crystal with rotations and permutations ``(R_k, π_k)``, ``k = 1..m``, and template
positions ``x⁰`` (see :class:`~generator.symmetry.templates.SymmetryTemplate`):

* coordinates: the displacements from the template, ``u_i = w(x_i - x⁰_i)`` with ``w`` the wrap
  into [-½, ½), are averaged over the group, ``u_i ← (1/m) Σ_k R_k⁻¹ u_{π_k(i)}``, and
  ``x_i ← x⁰_i + u_i``. This is a linear projection: the result is exactly invariant, and an
  atom on a special position stays on its template's (two atoms cannot fall onto one special
  position, as a projection of the positions themselves would let them);
* lattice: the metric ``G = L Lᵀ`` (rows as vectors) becomes ``(1/m) Σ_k R_kᵀ G R_k`` and the
  symmetric lattice its positive square root. A symmetric lattice that is not positive definite
  (the noisy phase can pass through one) becomes its mirror image that is: the network sees only
  the metric, which is the same;
* atom types: every atom takes its orbit representative's token, and the type logits are
  averaged over each orbit before a type is drawn, so one orbit is one element.

"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from generator.diffusion.coordinates import wrap
from generator.model import CrystalState, ScoreOutput
from generator.sampling import ScoreFn
from generator.symmetry.templates import SymmetryTemplate


class SymmetryProjection:
    """Projection of a batch of ``B`` crystals, crystal ``b`` onto ``templates[b]``'s symmetry.

    The batch's crystals must have their templates' atom counts, atoms in template order.
    """

    def __init__(
        self,
        templates: Sequence[SymmetryTemplate],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        self.num_atoms = torch.tensor([t.num_atoms for t in templates], device=device)
        count = int(self.num_atoms.sum())
        width = max(int(t.rotations.shape[0]) for t in templates)
        eye = torch.eye(3, dtype=dtype)
        self.rotations = eye.repeat(len(templates), width, 1, 1)  # (B, m, 3, 3)
        self.reference = torch.cat([t.frac_coords for t in templates]).to(dtype)  # (n, 3)
        self.valid = torch.zeros(len(templates), width, dtype=torch.bool)
        self.partners = torch.arange(count).unsqueeze(-1).repeat(1, width)  # (n, m)
        offset = 0
        for b, template in enumerate(templates):
            m, n = template.permutations.shape
            self.rotations[b, :m] = template.rotations.to(dtype)
            self.valid[b, :m] = True
            self.partners[offset : offset + n, :m] = template.permutations.T + offset
            offset += n
        self.rotations, self.reference = self.rotations.to(device), self.reference.to(device)
        self.valid, self.partners = self.valid.to(device), self.partners.to(device)
        self.inverse_rotations = torch.linalg.inv(self.rotations)
        self.representatives = self.partners.min(dim=1).values  # (n,) lowest atom of each orbit

    def __call__(self, state: CrystalState) -> CrystalState:
        """``state`` projected: coordinates, lattice and tokens."""
        self._check(state)
        return replace(
            state,
            tokens=state.tokens[self.representatives],
            frac_coords=self.coordinates(state.frac_coords, state.batch),
            lattice=self.lattice(state.lattice),
        )

    def coordinates(self, frac_coords: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """``(n, 3)`` fractional coordinates ``(n, 3)`` with their displacements from the
        template averaged over the group."""
        displacement = frac_coords - self.reference
        displacement = displacement - torch.round(displacement)
        pulled_back = torch.einsum(
            "nkij,nkj->nki", self.inverse_rotations[batch], displacement[self.partners]
        )  # (n, m, 3)
        valid = self.valid[batch].unsqueeze(-1).to(pulled_back.dtype)
        return wrap(self.reference + (pulled_back * valid).sum(1) / valid.sum(1))

    def lattice(self, lattice: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 3)`` the symmetric lattices whose metrics are those of ``lattice`` averaged
        over the group."""
        metric = lattice @ lattice.transpose(-1, -2)
        rotated = self.rotations.transpose(-1, -2) @ metric.unsqueeze(1) @ self.rotations
        valid = self.valid.to(metric.dtype).reshape(*self.valid.shape, 1, 1)
        averaged = (rotated * valid).sum(1) / valid.sum(1)
        values, vectors = torch.linalg.eigh(averaged)
        return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)

    def type_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """``(n, Z)`` logits averaged over each orbit."""
        sums = torch.zeros_like(logits).index_add_(0, self.representatives, logits)
        sizes = torch.bincount(self.representatives, minlength=logits.shape[0]).clamp_min(1)
        return (sums / sizes.unsqueeze(-1).to(logits.dtype))[self.representatives]

    def score_fn(self, score_fn: ScoreFn) -> ScoreFn:
        """``score_fn`` with its type logits averaged over orbits."""

        def projected(state: CrystalState, t: torch.Tensor) -> ScoreOutput:
            scores = score_fn(state, t)
            return replace(scores, type_logits=self.type_logits(scores.type_logits))

        return projected

    def _check(self, state: CrystalState) -> None:
        if not torch.equal(state.num_atoms, self.num_atoms):
            raise ValueError(
                f"atom counts {state.num_atoms.tolist()} are not the templates' "
                f"{self.num_atoms.tolist()}"
            )
