"""NVIDIA GPUs through NVML, when a driver is present. Everything here answers "no GPU" quietly otherwise."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuMemory:
    name: str
    free: int
    total: int


@functools.cache
def _nvml():
    """The initialised NVML module, or None. Cached: initialising costs tens of milliseconds."""
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception as exc:  # noqa: BLE001 - missing library, missing driver, no device: all mean "no GPU"
        log.debug("NVML unavailable: %s", exc)
        return None


def gpu_memories() -> list[GpuMemory]:
    nvml = _nvml()
    if nvml is None:
        return []
    found = []
    try:
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            name = nvml.nvmlDeviceGetName(handle)
            found.append(GpuMemory(name.decode() if isinstance(name, bytes) else name, int(mem.free), int(mem.total)))
    except Exception as exc:  # noqa: BLE001 - a driver hiccup must not break a model list
        log.debug("NVML query failed: %s", exc)
    return found


def gpu_memory() -> tuple[int, int]:
    """(free, total) bytes on the first GPU; (0, 0) when there is none."""
    gpus = gpu_memories()
    return (gpus[0].free, gpus[0].total) if gpus else (0, 0)
