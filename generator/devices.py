"""Where the networks run: device names from configs and command lines, checked against what
torch sees on this machine."""

from __future__ import annotations

import platform

import torch

from matterloop.core.errors import MatterloopError

__all__ = ["DeviceError", "hardware_description", "resolve_device"]


class DeviceError(MatterloopError):
    """A device that this machine does not have (e.g. ``cuda`` without a CUDA GPU)."""


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device of ``name``: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``,
    ``"cuda"`` or ``"cuda:1"``.

    Raises:
        DeviceError (a MatterloopError): an unknown name, or a CUDA device torch cannot see.
    """
    if str(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise DeviceError(f"unknown device {str(name)!r}: use auto, cpu, cuda or cuda:N") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {str(name)!r} requested, but torch sees no CUDA GPU here "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
                "use cpu"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(
                f"device {str(name)!r} requested, but torch sees "
                f"{torch.cuda.device_count()} CUDA GPU(s)"
            )
    elif device.type != "cpu":
        raise DeviceError(f"unsupported device {str(name)!r}: use auto, cpu, cuda or cuda:N")
    return device


def hardware_description(device: torch.device) -> str:
    """``"NVIDIA H100 …"`` for a CUDA device, else the CPU and torch's thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
