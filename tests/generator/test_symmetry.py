"""Space-group templates and symmetry-constrained sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from matterloop.data import collate
from matterloop.data.canonical import canonicalize
from matterloop.data.properties import ConditionError
from matterloop.data.tensors import structure_to_tensors
from matterloop.generator.conditioning import AdaptedGenerator, FinetuneConfig, finetune
from matterloop.generator.diffusion.atom_types import MASK_TOKEN, MAX_Z
from matterloop.generator.diffusion.lattice import symmetrize_lattice
from matterloop.generator.guided import generate_batches, resolve_targets
from matterloop.generator.model import CrystalState
from matterloop.generator.sampling import SamplerConfig
from matterloop.generator.symmetry import SymmetryProjection, SymmetryTemplate, templates_by_group
from matterloop.generator.symmetry.projection import EXCLUDED_LOGIT


def rutile(x: float = 0.305) -> Structure:
    """TiO2 rutile (P4_2/mnm, 136): Ti on 2a, O on 4f (x, x, 0) with the free parameter x."""
    return Structure(
        Lattice.tetragonal(4.59, 2.96),
        ["Ti", "Ti", "O", "O", "O", "O"],
        [
            [0, 0, 0],
            [0.5, 0.5, 0.5],
            [x, x, 0],
            [1 - x, 1 - x, 0],
            [0.5 + x, 0.5 - x, 0.5],
            [0.5 - x, 0.5 + x, 0.5],
        ],
    )


def state_of(structures: list[Structure]) -> CrystalState:
    """The structures as a float64 sampler state with symmetric lattices."""
    batch = collate([structure_to_tensors(s, dtype=torch.float64) for s in structures])
    state = CrystalState.from_batch(batch)
    return CrystalState(
        state.tokens, state.frac_coords, symmetrize_lattice(state.lattice), state.num_atoms,
        state.batch,
    )  # fmt: skip


def space_group(state: CrystalState, index: int = 0, symprec: float = 0.1) -> int:
    structure = state.to_batch().to_structures()[index]
    return SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number()


def test_template_holds_operations_orbits_and_no_elements(small_structures) -> None:
    nacl = structure_to_tensors(canonicalize(small_structures[0]))
    template = SymmetryTemplate.of_crystal(nacl)
    assert template.space_group == 225
    assert template.rotations.shape == (48, 3, 3)
    for permutation in template.permutations:  # one bijection per operation, elements kept
        assert permutation.tolist() == [0, 1]
    assert template.species.tolist() == [0, 1]
    fields = {"space_group", "rotations", "permutations", "frac_coords", "species"}
    assert set(template.to_dict()) == fields
    restored = SymmetryTemplate.from_dict(template.to_dict())
    assert torch.equal(restored.permutations, template.permutations)

    crystal = structure_to_tensors(rutile())
    template = SymmetryTemplate.of_crystal(crystal)
    assert template.space_group == 136
    orbits = {frozenset(template.permutations[:, i].tolist()) for i in range(6)}
    assert orbits == {frozenset({0, 1}), frozenset({2, 3, 4, 5})}
    assert template.species.tolist() == [0, 0, 2, 2, 2, 2]


def test_templates_by_group_keeps_the_first_per_group_and_skips_mislabeled(
    small_structures,
) -> None:
    crystals = [structure_to_tensors(canonicalize(s)) for s in small_structures * 3]
    labels = [225, 227, 229, 221] * 3
    labels[2] = 225  # bcc Fe labeled as rock salt: its analysis finds 229, so it is skipped
    groups = templates_by_group(crystals, labels, per_group=2)
    assert {g: len(t) for g, t in groups.items()} == {225: 2, 227: 2, 229: 2, 221: 2}
    assert all(t.space_group == g for g, ts in groups.items() for t in ts)


def test_projection_makes_a_distorted_crystal_exactly_symmetric_keeping_free_parameters() -> None:
    template = SymmetryTemplate.of_crystal(structure_to_tensors(rutile(0.305)))
    clean = state_of([rutile(0.29)])  # same Wyckoff positions, another free parameter
    generator = torch.Generator().manual_seed(0)
    noise = 0.02 * torch.randn(clean.frac_coords.shape, generator=generator, dtype=torch.float64)
    bend = 0.1 * torch.randn((1, 3, 3), generator=generator, dtype=torch.float64)
    distorted = CrystalState(
        clean.tokens,
        (clean.frac_coords + noise) % 1,
        clean.lattice + (bend + bend.transpose(-1, -2)) / 2,
        clean.num_atoms,
        clean.batch,
    )
    assert space_group(distorted) != 136
    projected = SymmetryProjection([template], torch.float64)(distorted)
    assert space_group(projected, symprec=1e-4) == 136  # exact, not within a tolerance
    x = projected.frac_coords[2:, :2]  # O on (x, x, 0) and its images
    free = float(min(x[0, 0], 1 - x[0, 0]))
    assert abs(free - 0.29) < 0.03 and abs(free - 0.305) > 1e-4  # the sample's, not the template's
    metric = projected.lattice[0] @ projected.lattice[0].T  # tetragonal: a = b, right angles
    c, a, b = metric.diagonal().sqrt().sort().values.tolist()
    assert a == pytest.approx(b, abs=1e-9) and c == pytest.approx(2.96, abs=0.2)
    assert torch.allclose(metric - metric.diagonal().diag(), torch.zeros(3, 3, dtype=torch.float64))


def test_projection_leaves_symmetric_crystals_and_shares_types_within_orbits() -> None:
    crystal = rutile()
    template = SymmetryTemplate.of_crystal(structure_to_tensors(crystal))
    state = state_of([crystal])
    projection = SymmetryProjection([template], torch.float64)
    projected = projection(state)
    offset = projected.frac_coords - state.frac_coords
    assert torch.allclose(offset - offset.round(), torch.zeros_like(offset), atol=1e-9)
    assert torch.allclose(projected.lattice, state.lattice, atol=1e-9)

    mixed = CrystalState(
        torch.tensor([21, 7, 7, 1, 2, 3]), *(state.frac_coords, state.lattice),
        state.num_atoms, state.batch,
    )  # fmt: skip
    assert projection(mixed).tokens.tolist() == [21, 21, 7, 7, 7, 7]
    logits = torch.randn(6, MAX_Z, dtype=torch.float64)
    masked = torch.full((6,), MASK_TOKEN)
    averaged = projection.type_logits(logits, masked)
    assert torch.allclose(averaged[0], logits[:2].mean(0))
    assert torch.allclose(averaged[2:], logits[2:].mean(0).expand(4, MAX_Z))
    titanium = torch.tensor([21, 21, *[MASK_TOKEN] * 4])
    excluded = projection.type_logits(logits, titanium)  # oxygen's sites cannot be Ti too
    assert (excluded[2:, 21] == EXCLUDED_LOGIT).all() and (excluded[:2] > -100).all()
    assert (excluded[2:, :21] > -100).all()
    only = SymmetryProjection([template], torch.float64, elements=[22])
    restricted = only.type_logits(logits, titanium)  # nothing but Ti is left for oxygen's sites
    assert (restricted[2:, 21] > -100).all() and (restricted[:, :21] == EXCLUDED_LOGIT).all()
    orbit_sizes = projection.coordinate_noise_scale.squeeze(-1) ** 2  # Ti on 2a, O on 4f
    assert torch.allclose(orbit_sizes, torch.tensor([2.0, 2, 4, 4, 4, 4], dtype=torch.float64))
    with pytest.raises(ValueError, match="atom counts"):
        projection(state_of([crystal, crystal]))


def test_space_group_conditioned_sampling_stays_in_the_group(
    tiny_generator, small_structures
) -> None:
    config = FinetuneConfig(steps=2, batch_size=4)
    adapted = finetune(tiny_generator, small_structures, {}, ["space_group"], config)
    assert sorted(adapted.templates) == [221, 225, 227, 229]
    targets = resolve_targets(adapted, {"space_group": 227})
    sampler = SamplerConfig(num_steps=4)
    batches = generate_batches(adapted, 6, config=sampler, targets=targets, batch_size=3)
    structures = [s for result, _ in batches for s in result.structures]
    assert len(structures) == 6
    for structure in structures:  # diamond's Wyckoff positions, whatever the elements
        assert len(structure) == 2
        assert SpacegroupAnalyzer(structure, symprec=1e-3).get_space_group_number() in (227, 225)

    free = generate_batches(
        adapted, 8, config=sampler, targets=targets, batch_size=8, symmetric=False
    )
    counts = {len(s) for result, _ in free for s in result.structures}
    assert counts != {2}  # atom counts drawn from the base distribution instead

    with pytest.raises(ConditionError, match="no template of space group 62"):
        next(
            generate_batches(
                adapted, 2, config=sampler, targets={"space_group": _target(adapted, 62)}
            )
        )
    with pytest.raises(ConditionError, match="space group 227 with 3 atoms"):
        next(generate_batches(adapted, 2, config=sampler, targets=targets, num_atoms=3))


def _target(adapted: AdaptedGenerator, group: int):
    return resolve_targets(adapted, {"space_group": group})["space_group"]


def test_templates_survive_saving_and_continued_finetuning(
    tiny_generator, small_structures, labeled_structures, tmp_path
) -> None:
    config = FinetuneConfig(steps=1, batch_size=4)
    adapted = finetune(tiny_generator, small_structures, {}, ["space_group"], config)
    adapted.save(tmp_path / "adapted.pt")
    loaded = AdaptedGenerator.load(tmp_path / "adapted.pt")
    assert sorted(loaded.templates) == sorted(adapted.templates)
    for group, templates in adapted.templates.items():
        for saved, original in zip(loaded.templates[group], templates, strict=True):
            assert torch.equal(saved.rotations, original.rotations)
            assert np.allclose(saved.frac_coords, original.frac_coords)
    structures, labels = labeled_structures
    continued = finetune(loaded, structures, labels, ["mag_density"], config)
    assert sorted(continued.templates) == sorted(adapted.templates)
