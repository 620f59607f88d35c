"""`check`: what this Python can do, as one JSON object (the extension's Check Environment)."""

from __future__ import annotations

import importlib.util
import platform
import sys
from typing import Any

import torch

from .. import __version__

OPTIONAL_EXTRAS = ("transformers", "safetensors", "onnx", "onnxruntime", "peft")


def environment_report() -> dict[str, Any]:
    devices: list[dict[str, Any]] = []
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(index)
            devices.append({"type": "cuda", "index": index, "name": props.name,
                            "memory_bytes": int(props.total_memory),
                            "bf16": bool(torch.cuda.is_bf16_supported()),
                            "capability": f"{props.major}.{props.minor}"})
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append({"type": "mps", "index": 0, "name": "Apple GPU (MPS)", "memory_bytes": None, "bf16": False})
    devices.append({"type": "cpu", "index": 0, "name": platform.processor() or platform.machine(),
                    "memory_bytes": None, "bf16": False, "threads": torch.get_num_threads()})
    extras = {name: importlib.util.find_spec(name) is not None for name in OPTIONAL_EXTRAS}
    return {
        "ok": True,
        "trainer_version": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "torch": {"version": torch.__version__, "cuda": torch.version.cuda, "meets_minimum": _torch_ok()},
        "platform": platform.platform(),
        "devices": devices,
        "default_device": devices[0]["type"],
        "extras": extras,
    }


def _torch_ok() -> bool:
    parts = torch.__version__.split("+")[0].split(".")
    return (int(parts[0]), int(parts[1])) >= (2, 1)
