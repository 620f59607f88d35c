"""Where a run computes: the device a config asks for (and what it is called in run.json), and
the compute precision (autocast) that device and the frozen weights allow."""

from __future__ import annotations

from typing import Optional

import torch

from ..inputs.config import ConfigError, ConfigProblem
from .distributed import World


def select_device(preference: str, source: str = "<config>", world: World = World()) -> torch.device:
    def unavailable(message: str) -> ConfigError:
        return ConfigError(source, [ConfigProblem("train.device", message, "semantic")])

    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise unavailable(f"cuda was requested but torch {torch.__version__} sees no CUDA device; use auto or cpu")
        return torch.device("cuda", world.local_rank) if world.active else torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps and mps.is_available())
    if preference == "mps" or (preference == "auto" and mps_available):
        if not mps_available:
            raise unavailable("mps was requested but is not available; use auto or cpu")
        return torch.device("mps")
    return torch.device("cpu")


def select_autocast(precision: str, device: torch.device, source: str = "<config>",
                    weights_bf16: bool = False) -> Optional[torch.dtype]:
    """The compute dtype (autocast), or None for fp32. auto: bf16 on a CUDA device that has it, or
    when the frozen weights are bf16 (policy.hf.dtype), so that every role computes at one precision."""
    if precision == "fp32":
        return None
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if device.type == "mps" or (device.type == "cuda" and not cuda_bf16):
            where = "this GPU does not support it" if device.type == "cuda" else "the run is on mps"
            raise ConfigError(source, [ConfigProblem(
                "train.precision", f"bf16 autocast needs a CUDA device with bf16 or the CPU; {where}. Use auto or fp32",
                "semantic")])
        return torch.bfloat16
    return torch.bfloat16 if cuda_bf16 or (weights_bf16 and device.type in ("cuda", "cpu")) else None


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return device.type
