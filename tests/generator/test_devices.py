"""Where the networks run: device names, CUDA placement of sampling and fine-tuning."""

from __future__ import annotations

import pytest
import torch

from matterloop.agent.cli import main
from matterloop.generator.conditioning.finetune import finetune_adapters
from matterloop.generator.devices import DeviceError, resolve_device
from matterloop.generator.guided import generate

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_auto_and_cpu_resolve_on_any_machine() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [("tpu", "unknown device 'tpu'"), ("mps", "unsupported device 'mps'")],
)
def test_devices_torch_does_not_offer_are_clear_errors(name: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error_before_any_sampling(
    tiny_generator, tmp_path, capsys
) -> None:
    base = tmp_path / "base.pt"
    tiny_generator.save(base)
    with pytest.raises(DeviceError, match=r"torch sees no CUDA GPU here.*use cpu"):
        generate(base, 2, steps=2, device="cuda")
    out = tmp_path / "samples"
    command = ["generator", "sample", "--checkpoint", str(base), "--num", "2", "--steps", "2"]
    assert main([*command, "--device", "cuda", "--out", str(out)]) == 2
    assert "error: device 'cuda' requested, but torch sees no CUDA GPU" in capsys.readouterr().err
    assert not list(out.glob("*.cif"))


def test_cpu_sampling_is_reproducible_on_the_named_device(tiny_generator, tmp_path) -> None:
    base = tmp_path / "base.pt"
    tiny_generator.save(base)
    first = generate(base, 3, steps=3, seed=4, device="cpu")
    again = generate(base, 3, steps=3, seed=4, device="cpu")
    assert [s.composition for s in first.structures] == [s.composition for s in again.structures]


@requires_cuda
def test_sampling_and_finetuning_run_on_the_gpu(
    tiny_generator, labeled_structures, tmp_path, monkeypatch
) -> None:
    """The network is on CUDA during sampling and fine-tuning; results come back as CPU
    structures and a CPU model file."""
    base = tmp_path / "base.pt"
    tiny_generator.save(base)
    seen: list[torch.device] = []
    from matterloop.generator import guided

    original = guided.sample

    def recording_sample(model, *args, **kwargs):
        seen.append(next(model.parameters()).device)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(guided, "sample", recording_sample)
    result = generate(base, 4, steps=3, batch_size=2, device="cuda")
    assert len(result.structures) == 4
    assert seen and all(device.type == "cuda" for device in seen)

    structures, labels = labeled_structures
    out = finetune_adapters(
        base, structures, labels, ["mag_density"], tmp_path / "a.pt", steps=2, device="cuda"
    )
    guided_result = generate(out, 2, steps=2, conditions={"mag_density": 0.1}, device="cuda")
    assert len(guided_result.structures) == 2
