"""What the machine is doing, per step (W&B's system charts): the trainer process's CPU use and
memory, and on CUDA the memory torch holds and, when NVML is importable, the GPU's utilisation.
psutil is used when present (an optional extra); without it the standard library gives the same
numbers on Linux and macOS."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Optional

import torch

from .metric_groups import MetricGroup, Series


def _rss_bytes() -> Optional[float]:
    try:
        import psutil
        return float(psutil.Process().memory_info().rss)
    except ImportError:
        pass
    try:  # Linux: resident pages
        with open("/proc/self/statm", encoding="ascii") as handle:
            return float(int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:  # macOS and the BSDs: the peak, the closest the standard library has
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return float(peak if sys.platform == "darwin" else peak * 1024)
    except (ImportError, OSError):
        return None


def _nvml() -> Any:
    try:
        import pynvml
        pynvml.nvmlInit()
        return pynvml
    except Exception:  # noqa: BLE001 - no NVML library, no driver, or no permission: no utilisation chart
        return None


def system_groups(cuda: bool, gpu_utilisation: bool) -> list[MetricGroup]:
    """The dashboard's System charts for what SystemMonitor reports on this device."""
    groups = [MetricGroup("system_cpu", "Trainer CPU use (%, 100 = one core)", "system", "train",
                          [Series("system/cpu_percent", "CPU %")]),
              MetricGroup("system_memory", "Trainer memory (MiB)", "system", "train", [Series("system/memory_mib", "resident")])]
    if cuda:
        groups.append(MetricGroup("system_gpu_memory", "GPU memory (MiB)", "system", "train",
                                  [Series("system/gpu_allocated_mib", "allocated"), Series("system/gpu_reserved_mib", "reserved"),
                                   Series("system/gpu_peak_mib", "peak allocated")]))
    if gpu_utilisation:
        groups.append(MetricGroup("system_gpu_util", "GPU utilisation (%)", "system", "train",
                                  [Series("system/gpu_util_percent", "utilisation")]))
    return groups


class SystemMonitor:
    """Call `sample()` once per step; each call covers the time since the one before."""

    def __init__(self, device: torch.device):
        self.device = device
        self._last_wall = time.monotonic()
        self._last_cpu = time.process_time()
        self._nvml = _nvml() if device.type == "cuda" else None
        self._handle: Any = None
        if self._nvml is not None:
            try:
                index = device.index if device.index is not None else torch.cuda.current_device()
                self._handle = self._nvml.nvmlDeviceGetHandleByIndex(index)
            except Exception:  # noqa: BLE001
                self._nvml = None

    def metric_groups(self) -> list[MetricGroup]:
        return system_groups(self.device.type == "cuda", self._nvml is not None and self._handle is not None)

    def sample(self) -> dict[str, float]:
        wall, cpu = time.monotonic(), time.process_time()
        elapsed = wall - self._last_wall
        out: dict[str, float] = {}
        if elapsed > 0:
            # CPU time of this process (all its threads) over wall time: 200 is two cores busy.
            out["system/cpu_percent"] = 100.0 * (cpu - self._last_cpu) / elapsed
        self._last_wall, self._last_cpu = wall, cpu
        rss = _rss_bytes()
        if rss is not None:
            out["system/memory_mib"] = rss / 2**20
        if self.device.type == "cuda":
            out["system/gpu_allocated_mib"] = torch.cuda.memory_allocated(self.device) / 2**20
            out["system/gpu_reserved_mib"] = torch.cuda.memory_reserved(self.device) / 2**20
            out["system/gpu_peak_mib"] = torch.cuda.max_memory_allocated(self.device) / 2**20
            if self._nvml is not None and self._handle is not None:
                try:
                    out["system/gpu_util_percent"] = float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
                except Exception:  # noqa: BLE001
                    pass
        return out
