"""One reading of the machine: CPU, memory, Hearth's own processes, the disks that hold models, and the GPUs.

`HardwareSampler.sample()` costs well under a millisecond without a GPU (a few /proc reads on Linux), so the
app can call it every second. CPU figures are deltas since the previous call, kept here rather than in psutil's
module-wide state, so nothing else that asks psutil for CPU use can disturb them.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from app.core.hardware.gpu import GpuStatus, read_gpus


@dataclass(frozen=True)
class CpuReading:
    percent: float  # all cores together, 0-100
    per_core: tuple[float, ...]


@dataclass(frozen=True)
class MemoryReading:
    total: int
    available: int
    used: int  # total - available: what other programs could not get back quickly
    swap_total: int
    swap_used: int
    unified: bool  # Apple Silicon: the GPU uses this same memory


@dataclass(frozen=True)
class ProcessReading:
    pid: int
    label: str  # "Hearth", "Training job 3", ...
    rss: int
    cpu_percent: float  # share of one core; can exceed 100 on several cores


@dataclass(frozen=True)
class DiskReading:
    path: str
    free: int
    total: int


@dataclass(frozen=True)
class HardwareSample:
    time: float  # seconds since the epoch
    cpu: CpuReading
    memory: MemoryReading
    processes: tuple[ProcessReading, ...]  # Hearth first, then any watched child
    disks: tuple[DiskReading, ...]
    gpu: GpuStatus

    def to_dict(self) -> dict:
        return asdict(self)


def is_apple_silicon() -> bool:
    return platform.system() == "Darwin" and platform.machine() == "arm64"


def _busy_fraction(before, after) -> float:
    idle_before = before.idle + getattr(before, "iowait", 0.0)
    idle_after = after.idle + getattr(after, "iowait", 0.0)
    total = sum(after) - sum(before)
    if total <= 0:
        return 0.0
    return max(0.0, min(1.0, 1.0 - (idle_after - idle_before) / total))


def _existing(path: Path) -> Path:
    """The path, or its nearest existing parent (a models folder may not exist yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


class HardwareSampler:
    """Not thread-safe: one owner (the monitor's sampler thread, or a CLI call) uses it."""

    def __init__(self, disk_paths: list[Path] | None = None, read_gpu=read_gpus):
        self._read_gpu = read_gpu
        self._cpu_before = psutil.cpu_times(percpu=True)
        self._own = psutil.Process()
        self._own.cpu_percent()  # primes the per-process delta
        self._watched: dict[int, tuple[psutil.Process, str]] = {}
        self._unified = is_apple_silicon()
        self.set_disk_paths(disk_paths or [])

    def set_disk_paths(self, paths: list[Path]) -> None:
        """Folders whose disks to report; several folders on one disk are reported once, by the first."""
        seen, kept = set(), []
        for path in paths:
            existing = _existing(Path(path))
            try:
                device = existing.stat().st_dev
            except OSError:
                continue
            if device not in seen:
                seen.add(device)
                kept.append(existing)
        self._disks = kept

    def watch(self, pid: int, label: str) -> bool:
        """Report this process too (a training child). False when it is already gone."""
        try:
            process = psutil.Process(pid)
            process.cpu_percent()
        except psutil.Error:
            return False
        self._watched[pid] = (process, label)
        return True

    def unwatch(self, pid: int) -> None:
        self._watched.pop(pid, None)

    def _cpu(self) -> CpuReading:
        after = psutil.cpu_times(percpu=True)
        per_core = tuple(100.0 * _busy_fraction(b, a) for b, a in zip(self._cpu_before, after, strict=False))
        self._cpu_before = after
        total = sum(per_core) / len(per_core) if per_core else 0.0
        return CpuReading(total, per_core)

    def _memory(self) -> MemoryReading:
        vm = psutil.virtual_memory()
        try:
            swap = psutil.swap_memory()
            swap_total, swap_used = swap.total, swap.used
        except (OSError, RuntimeError):  # some containers hide swap
            swap_total = swap_used = 0
        return MemoryReading(vm.total, vm.available, vm.total - vm.available, swap_total, swap_used, self._unified)

    def _processes(self) -> tuple[ProcessReading, ...]:
        readings = [self._process(self._own, "Hearth")]
        for pid, (process, label) in list(self._watched.items()):
            try:
                readings.append(self._process(process, label))
            except psutil.Error:  # ended since the last sample
                del self._watched[pid]
        return tuple(readings)

    @staticmethod
    def _process(process: psutil.Process, label: str) -> ProcessReading:
        with process.oneshot():
            return ProcessReading(process.pid, label, process.memory_info().rss, process.cpu_percent())

    def _disk_readings(self) -> tuple[DiskReading, ...]:
        readings = []
        for path in self._disks:
            try:
                usage = psutil.disk_usage(str(path))
            except OSError:  # unplugged drive
                continue
            readings.append(DiskReading(str(path), usage.free, usage.total))
        return tuple(readings)

    def sample(self) -> HardwareSample:
        return HardwareSample(
            time=time.time(),
            cpu=self._cpu(),
            memory=self._memory(),
            processes=self._processes(),
            disks=self._disk_readings(),
            gpu=self._read_gpu(),
        )


def cpu_count() -> int:
    return psutil.cpu_count() or os.cpu_count() or 1
