"""NVIDIA GPUs through NVML, when a driver is present; otherwise a sentence saying why there is nothing to show.

NVML is initialised once per process (tens of milliseconds) and device handles are kept. Every reading is
optional: consumer cards and some drivers refuse temperature or power, which must not hide the rest.
"""

from __future__ import annotations

import functools
import logging
import platform
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuMemory:
    name: str
    free: int
    total: int


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    memory_used: int
    memory_total: int
    utilization_percent: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None


@dataclass(frozen=True)
class GpuStatus:
    """What can be seen of the GPUs. `reason` is for a person: why there are no GPU figures, or what kind they are."""

    available: bool
    reason: str
    devices: tuple[GpuReading, ...] = field(default_factory=tuple)


@dataclass
class _Nvml:
    module: object | None
    reason: str
    handles: list = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def unavailable_reason(exc: BaseException, system: str | None = None, machine: str | None = None) -> str:
    """Why NVML could not start, in a sentence, from the exception the real library raised."""
    system = system or platform.system()
    machine = machine or platform.machine()
    if system == "Darwin":
        if machine == "arm64":
            return ("Apple Silicon: the GPU shares the unified memory shown in the Memory chart. macOS does not "
                    "report GPU load to apps without administrator rights, so there is no GPU chart.")
        return "macOS has no NVIDIA driver and does not report GPU load to apps, so there is no GPU chart."
    kind = type(exc).__name__
    if isinstance(exc, ImportError):
        return "GPU charts need the nvidia-ml-py package, which is not installed."
    if kind == "NVMLError_LibraryNotFound":
        return ("No NVIDIA driver found (the NVML library is missing), so there are no GPU figures; "
                "CPU and memory are still measured.")
    if kind == "NVMLError_DriverNotLoaded":
        return "The NVIDIA driver is installed but not running, so GPU figures cannot be read. Restarting may help."
    if kind == "NVMLError_NoPermission":
        return "The NVIDIA driver refused to report GPU figures to this user (no permission)."
    return f"GPU figures are unavailable: the NVIDIA driver said “{exc}”."


def probe_nvml() -> _Nvml:
    """Start NVML and find the devices. Not cached: `_nvml()` is the cached form the app uses."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        state = _Nvml(pynvml, "")
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            state.handles.append(handle)
            state.names.append(name.decode() if isinstance(name, bytes) else str(name))
    except Exception as exc:  # noqa: BLE001 - missing library, missing driver, no device: all mean "no GPU"
        log.debug("NVML unavailable: %s", exc)
        return _Nvml(None, unavailable_reason(exc))
    if not state.handles:
        return _Nvml(None, "The NVIDIA driver is running but reports no GPUs.")
    return state


@functools.cache
def _nvml() -> _Nvml:
    return probe_nvml()


def _optional(call, *args, scale: float = 1.0) -> float | None:
    try:
        return float(call(*args)) * scale
    except Exception:  # noqa: BLE001 - NotSupported on many cards; the other figures still count
        return None


def _read_device(nvml, index: int, handle, name: str) -> GpuReading:
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    util = None
    try:
        util = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:  # noqa: BLE001 - see _optional
        pass
    return GpuReading(
        index=index,
        name=name,
        memory_used=int(mem.used),
        memory_total=int(mem.total),
        utilization_percent=util,
        temperature_c=_optional(nvml.nvmlDeviceGetTemperature, handle, nvml.NVML_TEMPERATURE_GPU),
        power_w=_optional(nvml.nvmlDeviceGetPowerUsage, handle, scale=0.001),
        power_limit_w=_optional(nvml.nvmlDeviceGetEnforcedPowerLimit, handle, scale=0.001),
    )


def read_gpus(state: _Nvml | None = None) -> GpuStatus:
    """One reading of every NVIDIA GPU, or the reason there is none."""
    state = state or _nvml()
    if state.module is None:
        return GpuStatus(False, state.reason)
    devices = []
    try:
        for index, (handle, name) in enumerate(zip(state.handles, state.names, strict=True)):
            devices.append(_read_device(state.module, index, handle, name))
    except Exception as exc:  # noqa: BLE001 - a driver hiccup (GPU lost, reset) must not stop the sampler
        log.debug("NVML query failed: %s", exc)
        return GpuStatus(False, f"The NVIDIA driver stopped answering ({exc}); GPU figures are paused.")
    names = ", ".join(sorted(set(state.names)))
    return GpuStatus(True, f"{len(devices)} NVIDIA GPU{'s' if len(devices) > 1 else ''}: {names}", tuple(devices))


def gpu_memories() -> list[GpuMemory]:
    status = read_gpus()
    return [GpuMemory(d.name, d.memory_total - d.memory_used, d.memory_total) for d in status.devices]


def gpu_memory() -> tuple[int, int]:
    """(free, total) bytes on the first GPU; (0, 0) when there is none."""
    gpus = gpu_memories()
    return (gpus[0].free, gpus[0].total) if gpus else (0, 0)
