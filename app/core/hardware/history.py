"""The current session's samples, kept in bounded ring buffers, as named time series for charts and headlines.

Each series is its own ring of (time, value) so a series that appears later (a training child, a second disk)
needs no padding. Capacity bounds memory: an hour at one sample a second is about 60 KB per series.
Rings are plain `array`s, and numpy is imported only when a chart reads them: the window starts ~40 ms sooner.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.core.hardware.sampler import HardwareSample

if TYPE_CHECKING:
    import numpy as np

DEFAULT_CAPACITY = 3600


class Ring:
    """A fixed-capacity series of (time, value); appends are O(1), reads come back oldest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._t = array("d", bytes(8 * capacity))
        self._v = array("d", bytes(8 * capacity))
        self._next = 0
        self.count = 0

    def append(self, t: float, value: float) -> None:
        self._t[self._next] = t
        self._v[self._next] = value
        self._next = (self._next + 1) % self.capacity
        self.count = min(self.count + 1, self.capacity)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        t, v = np.frombuffer(self._t), np.frombuffer(self._v)
        if self.count < self.capacity:
            return t[: self.count].copy(), v[: self.count].copy()
        order = np.r_[self._next : self.capacity, 0 : self._next]
        return t[order], v[order]

    def since(self, start: float) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        t, v = self.arrays()
        first = int(np.searchsorted(t, start))  # times only grow, so the ring stays sorted
        return t[first:], v[first:]

    def last(self) -> tuple[float, float] | None:
        if not self.count:
            return None
        i = (self._next - 1) % self.capacity
        return float(self._t[i]), float(self._v[i])


def _average_runs(t: np.ndarray, v: np.ndarray, run: int) -> tuple[np.ndarray, np.ndarray]:
    """Means of consecutive runs of `run` values, aligned to the newest so the latest run is always whole."""
    start = len(t) % run
    shape = (-1, run)
    return t[start:].reshape(shape).mean(axis=1), v[start:].reshape(shape).mean(axis=1)


@dataclass(frozen=True)
class SeriesStats:
    current: float
    minimum: float
    maximum: float


def flatten(sample: HardwareSample) -> dict[str, float]:
    """A sample as named numbers: the series the monitor charts."""
    values = {
        "cpu": sample.cpu.percent,
        "ram_used": sample.memory.used,
        "ram_available": sample.memory.available,
        "ram_total": sample.memory.total,
        "swap_used": sample.memory.swap_used,
    }
    for i, core in enumerate(sample.cpu.per_core):
        values[f"core{i}"] = core
    for p in sample.processes:
        values[f"rss:{p.label}"] = p.rss
        values[f"proc_cpu:{p.label}"] = p.cpu_percent
    for d in sample.disks:
        values[f"disk_free:{d.path}"] = d.free
    for g in sample.gpu.devices:
        values[f"gpu{g.index}_mem_used"] = g.memory_used
        values[f"gpu{g.index}_mem_total"] = g.memory_total
        for key, value in (("util", g.utilization_percent), ("temp", g.temperature_c), ("power", g.power_w)):
            if value is not None:
                values[f"gpu{g.index}_{key}"] = value
    return values


@dataclass(frozen=True)
class ReplyStat:
    """Figures for one finished reply, as the engine reported them (never measured a second time)."""

    time: float
    tokens_per_s: float
    ttft_s: float
    tokens: int
    model: str = ""


class SampleHistory:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, replies: int = 500):
        self.capacity = capacity
        self.series: dict[str, Ring] = {}
        self.replies: deque[ReplyStat] = deque(maxlen=replies)
        self.latest: HardwareSample | None = None

    def add(self, sample: HardwareSample) -> None:
        self.latest = sample
        for name, value in flatten(sample).items():
            self.add_point(name, sample.time, float(value))

    def add_point(self, name: str, t: float, value: float) -> None:
        """A value from somewhere other than the sampler (the engine's live decode rate)."""
        ring = self.series.get(name)
        if ring is None:
            ring = self.series[name] = Ring(self.capacity)
        ring.append(t, value)

    def add_reply(self, stat: ReplyStat) -> None:
        self.replies.append(stat)
        self.add_point("tokens_per_s", stat.time, stat.tokens_per_s)

    def names(self, prefix: str) -> list[str]:
        return [name for name in self.series if name.startswith(prefix)]

    def window(self, name: str, seconds: float, now: float, max_points: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The series inside the window; with `max_points`, averaged in equal runs down to about that many."""
        import numpy as np

        ring = self.series.get(name)
        if ring is None:
            return np.zeros(0), np.zeros(0)
        t, v = ring.since(now - seconds)
        if max_points and len(t) > max_points:
            t, v = _average_runs(t, v, math.ceil(len(t) / max_points))
        return t, v

    def stats(self, name: str, seconds: float, now: float) -> SeriesStats | None:
        import numpy as np

        _, values = self.window(name, seconds, now)
        values = values[np.isfinite(values)]  # gaps (NaN) separate one reply's live rate from the next
        if not len(values):
            return None
        return SeriesStats(float(values[-1]), float(values.min()), float(values.max()))

    def replies_since(self, start: float) -> list[ReplyStat]:
        return [r for r in self.replies if r.time >= start]
