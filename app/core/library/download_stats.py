"""Download speed and time left, measured over the last few seconds so the figures shown do not jump about."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class TransferStats:
    """Feed it the running byte count; it answers speed (bytes/s over a sliding window) and ETA."""

    def __init__(
        self, total: int, done: int = 0, *, window_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ):
        self.total = total
        self.done = done
        self._window_s = window_s
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque([(clock(), done)])

    def update(self, done: int) -> None:
        now = self._clock()
        self.done = done
        if now - self._samples[-1][0] >= 0.1:  # a sample per network read would be thousands a second
            self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > self._window_s:
            self._samples.popleft()

    @property
    def speed_bps(self) -> float:
        t0, d0 = self._samples[0]
        elapsed = self._clock() - t0
        return (self.done - d0) / elapsed if elapsed > 0.05 else 0.0

    @property
    def eta_s(self) -> float | None:
        speed = self.speed_bps
        if speed <= 0:
            return None
        return max(0.0, (self.total - self.done) / speed)
