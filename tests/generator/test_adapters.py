"""Property adapters, embeddings, labels, fine-tuning and adapted model files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from matterloop.core.checkpoint import CheckpointError
from matterloop.core.errors import DataError
from matterloop.data.labels import read_labeled_structures
from matterloop.data.properties import raw_labels
from matterloop.data.tensors import CrystalBatch
from matterloop.generator.conditioning import (
    AdaptedGenerator,
    AdaptedModel,
    FinetuneConfig,
    PropertyKind,
    PropertySpec,
    drop_conditions,
    finetune,
    load_generator,
)
from matterloop.generator.model import CrystalState
from matterloop.generator.training.model_io import TrainedGenerator

SPECS = [
    PropertySpec.fit("magnetic_density", [0.0, 0.1, 0.2, 0.3]),
    PropertySpec.fit("chemical_system"),
    PropertySpec.fit("space_group"),
]
RAW = {
    "magnetic_density": [0.05, 0.25, None, 0.1, 0.2],
    "chemical_system": ["Li-Co-O", "Fe-O", "Na-Cl", None, "Si"],
    "space_group": [225, 1, 221, 62, None],
}


def scores_at(model, batch: CrystalBatch, conditions=None):
    state = CrystalState.from_batch(batch)
    t = torch.full((batch.num_crystals,), 0.4)
    if conditions is None:
        return model(state, t)
    return model(state, t, conditions)


def float_batch(small_batch: CrystalBatch) -> CrystalBatch:
    return CrystalBatch(
        small_batch.atomic_numbers,
        small_batch.frac_coords.float(),
        small_batch.lattice.float(),
        small_batch.num_atoms,
        small_batch.batch,
    )


def test_fresh_adapters_leave_the_base_model_unchanged(tiny_generator, small_batch) -> None:
    batch = float_batch(small_batch)
    model = AdaptedModel(tiny_generator.model, SPECS)
    conditions = model.encode(RAW, batch.num_crystals)
    with torch.no_grad():
        base = scores_at(tiny_generator.model, batch)
        for given in (conditions, model.unconditional(batch.num_crystals)):
            adapted = scores_at(model, batch, given)
            for name in ("coordinates", "lattice", "type_logits"):
                assert torch.equal(getattr(adapted, name), getattr(base, name))
        torch.nn.init.normal_(model.adapters["space_group"].blocks[1].mix_in.weight)
        changed = scores_at(model, batch, conditions)
        assert not torch.allclose(changed.type_logits, base.type_logits)
        torch.nn.init.zeros_(model.adapters["space_group"].blocks[1].mix_in.weight)
        torch.nn.init.normal_(model.adapters["chemical_system"].type_bias.weight)
        biased = scores_at(model, batch, conditions)
    assert torch.equal(biased.coordinates, base.coordinates)
    assert not torch.allclose(biased.type_logits, base.type_logits)


def test_base_is_frozen_unless_fully_finetuned(tiny_generator) -> None:
    model = AdaptedModel(tiny_generator.model, SPECS)
    assert not any(p.requires_grad for p in model.base.parameters())
    assert all(p.requires_grad for p in model.adapters.parameters())
    assert len(model.adapters) == 3 and all(len(a.blocks) == 2 for a in model.adapters.values())
    model.unfreeze_base()
    assert all(p.requires_grad for p in model.base.parameters())


def test_conditions_are_dropped_together_at_the_given_rate(tiny_generator) -> None:
    model = AdaptedModel(tiny_generator.model, SPECS)
    count = 20_000
    raw = {"magnetic_density": [0.1] * count, "space_group": [225] * count}
    conditions = model.encode(raw, count)
    dropped = drop_conditions(conditions, 0.2, torch.Generator().manual_seed(0))
    absent = ~dropped["magnetic_density"].present
    assert abs(absent.float().mean().item() - 0.2) < 0.01
    assert torch.equal(absent, ~dropped["space_group"].present)
    assert not dropped["chemical_system"].present.any()  # never given


def test_property_encodings() -> None:
    spec = SPECS[0]
    assert spec.kind == PropertyKind.SCALAR
    assert spec.mean == pytest.approx(0.15) and spec.low == pytest.approx(0.003)
    encoded = spec.encode([0.15, math.nan, None])
    assert encoded.present.tolist() == [True, False, False]
    assert encoded.values[0].item() == pytest.approx(0.0, abs=1e-6)
    system = SPECS[1].encode(["Li-Co-O", None])
    assert system.values[0].nonzero().squeeze(-1).tolist() == [2, 7, 26]  # Li, O, Co
    assert system.present.tolist() == [True, False]
    groups = SPECS[2].encode([225, None])
    assert groups.values.tolist() == [225, 0] and groups.present.tolist() == [True, False]
    logged = PropertySpec.fit("bulk_modulus", [10.0, 100.0, 1000.0])
    assert logged.log and logged.mean == pytest.approx(math.log(100.0))
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        SPECS[1].encode(["Li-Xx"])
    with pytest.raises(ValueError, match="at least two"):
        PropertySpec.fit("band_gap", [1.0, math.nan])
    with pytest.raises(ValueError, match="identifier"):
        PropertySpec.fit("band-gap", [1.0, 2.0])


def test_labels_read_off_structures(labeled_structures) -> None:
    structures, labels = labeled_structures
    assert raw_labels("space_group", structures[:1], {}) == [221]
    assert raw_labels("chemical_system", structures[:1], {}) == ["Fe-O"]
    assert raw_labels("hhi", structures[:1], {})[0] > 0
    assert raw_labels("magnetic_density", structures, labels)[1] == labels["mag_density"][1]
    mp20 = {"dft_mag_density": labels["mag_density"]}
    assert raw_labels("mag_density", structures, mp20)[2] == labels["mag_density"][2]
    with pytest.raises(ValueError, match="no labels for property 'band_gap'"):
        raw_labels("band_gap", structures, labels)


def test_finetuning_trains_adapters_only_and_continues(
    tiny_generator, labeled_structures, tmp_path
) -> None:
    structures, labels = labeled_structures
    before = {k: v.clone() for k, v in tiny_generator.model.state_dict().items()}
    config = FinetuneConfig(steps=3, batch_size=8)
    # properties by alias: the model keeps the canonical names of generator.data.quantities
    adapted = finetune(tiny_generator, structures, labels, ["mag_density", "space_group"], config)
    after = adapted.model.base.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    mix_in = adapted.model.adapters["magnetic_density"].blocks[0].mix_in.weight
    assert mix_in.abs().sum() > 0
    assert adapted.info["labeled"] == {"magnetic_density": 15, "space_group": 16}
    path = tmp_path / "adapted.pt"
    adapted.save(path)
    properties = ["magnetic_density", "hhi"]
    more = finetune(AdaptedGenerator.load(path), structures, labels, properties, config)
    assert more.model.specs["magnetic_density"] == adapted.model.specs["magnetic_density"]
    assert set(more.model.specs) == {"magnetic_density", "hhi_production"}
    assert more.info["steps"] == 6
    with pytest.raises(ValueError, match="need distinct property names"):
        finetune(tiny_generator, structures, labels, ["mag_density", "magnetic_density"], config)
    full = finetune(
        tiny_generator, structures, labels, ["mag_density"], FinetuneConfig(steps=2, full=True)
    )
    assert any(not torch.equal(before[k], v) for k, v in full.model.base.state_dict().items())
    untouched = tiny_generator.model.state_dict()
    assert all(torch.equal(before[k], untouched[k]) for k in before)


def test_adapted_model_file_round_trip(tiny_generator, small_batch, tmp_path) -> None:
    batch = float_batch(small_batch)
    adapted = AdaptedGenerator.create(tiny_generator, SPECS)
    for parameter in adapted.model.adapters.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    path = tmp_path / "adapted.pt"
    adapted.save(path)
    loaded = load_generator(path)
    assert isinstance(loaded, AdaptedGenerator)
    assert loaded.model.specs == adapted.model.specs
    conditions = adapted.model.encode(RAW, batch.num_crystals)
    with torch.no_grad():
        expected = scores_at(adapted.model, batch, conditions)
        got = scores_at(loaded.model, batch, conditions)
    assert torch.equal(expected.lattice, got.lattice)
    assert torch.equal(expected.type_logits, got.type_logits)
    generator = torch.Generator().manual_seed(3)
    assert (
        loaded.draw_num_atoms(5, generator).tolist()
        == tiny_generator.draw_num_atoms(5, torch.Generator().manual_seed(3)).tolist()
    )
    base_path = tmp_path / "base.pt"
    tiny_generator.save(base_path)
    assert isinstance(load_generator(base_path), TrainedGenerator)
    with pytest.raises(CheckpointError, match="expected 'generator-adapted-model'"):
        AdaptedGenerator.load(base_path)


def test_read_labels_from_csv_extxyz_and_oracle_results(labeled_structures, tmp_path) -> None:
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    from matterloop.core.result import FailureKind, OracleResult, Provenance
    from matterloop.core.results_file import ResultRecord, append_result

    structures, labels = labeled_structures
    rows = ["cif,mag_density"] + [
        f'"{s.to(fmt="cif")}",{v}'
        for s, v in zip(structures[:3], labels["mag_density"][:3], strict=True)
    ]
    (tmp_path / "labels.csv").write_text("\n".join(rows))
    read, values = read_labeled_structures(tmp_path / "labels.csv")
    assert len(read) == 3 and values["mag_density"][1] == pytest.approx(0.02)
    frames = [AseAtomsAdaptor.get_atoms(s) for s in structures[:2]]
    for atoms, value in zip(frames, (0.5, 0.7), strict=True):
        atoms.info["hhi"] = value
    write(tmp_path / "labels.extxyz", frames, format="extxyz")
    read, values = read_labeled_structures(tmp_path / "labels.extxyz")
    assert len(read) == 2 and values["hhi"] == [0.5, 0.7]
    provenance = Provenance("mock", "1")
    results = [
        OracleResult(provenance, structures[0], structures[0], magnetic_density=0.1),
        OracleResult.failed(provenance, structures[1], FailureKind.TIMEOUT, "slow"),
        OracleResult(provenance, structures[2], None, energy_per_atom=-3.0),
    ]
    with (tmp_path / "results.jsonl").open("w") as handle:
        for number, result in enumerate(results):
            append_result(handle, ResultRecord(f"s{number}", result))
    read, values = read_labeled_structures(tmp_path / "results.jsonl")
    assert len(read) == 2
    assert values["magnetic_density"][0] == 0.1 and math.isnan(values["magnetic_density"][1])
    assert values["energy_per_atom"][1] == -3.0
    (tmp_path / "bare.jsonl").write_text(results[0].to_json() + "\n")
    with pytest.raises(DataError, match=r"bare.jsonl:1: not a line of an oracle results file"):
        read_labeled_structures(tmp_path / "bare.jsonl")
    (tmp_path / "failed.jsonl").write_text(
        json.dumps(ResultRecord("s", results[1]).to_dict()) + "\n"
    )
    with pytest.raises(DataError, match="no successful result among its 1 record"):
        read_labeled_structures(tmp_path / "failed.jsonl")
