"""The hardware sampler's own thread: a timer there takes a sample and hands it to the main thread.

NVML calls can take milliseconds, so sampling never runs on the UI thread. The interval is one second while
the Monitor tab is visible and five seconds otherwise (the low-memory warning still needs fresh figures).
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from app.core.hardware.sampler import HardwareSampler

log = logging.getLogger(__name__)

VISIBLE_INTERVAL_MS = 1000
HIDDEN_INTERVAL_MS = 5000
CHART_POINTS = 150  # points per chart line; plots redraw once per point (every 1 s at 1 min, 6 s at 15 min)


class SamplerWorker(QObject):
    """Lives in the sampler thread; its slots and its timer run there."""

    sample_taken = Signal(object)  # HardwareSample

    def __init__(self, sampler_factory, interval_ms: int):
        super().__init__()
        self._factory = sampler_factory
        self._interval = interval_ms
        self.sampler: HardwareSampler | None = None
        self.timer: QTimer | None = None

    @Slot()
    def start(self) -> None:
        self.sampler = self._factory()  # created here: NVML's first call happens off the UI thread too
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.tick)
        self.timer.start(self._interval)
        self.tick()

    @Slot()
    def tick(self) -> None:
        try:
            sample = self.sampler.sample()
        except Exception:  # noqa: BLE001 - one bad reading must not end the monitor
            log.exception("hardware sample failed")
            return
        self.sample_taken.emit(sample)

    @Slot(int)
    def set_interval(self, ms: int) -> None:
        self._interval = ms
        if self.timer is not None and self.timer.interval() != ms:
            self.timer.start(ms)
            if ms < HIDDEN_INTERVAL_MS:
                self.tick()  # coming back into view: fresh figures now, not a second later

    @Slot(int, str)
    def watch(self, pid: int, label: str) -> None:
        if self.sampler is not None:
            self.sampler.watch(pid, label)

    @Slot(int)
    def unwatch(self, pid: int) -> None:
        if self.sampler is not None:
            self.sampler.unwatch(pid)

    @Slot(object)
    def set_disk_paths(self, paths: list[Path]) -> None:
        if self.sampler is not None:
            self.sampler.set_disk_paths(paths)

    @Slot()
    def stop(self) -> None:
        if self.timer is not None:
            self.timer.stop()


class HardwareMonitor(QObject):
    """Main-thread façade. `sample_taken` is re-emitted from here, so receivers run on the main thread."""

    sample_taken = Signal(object)
    _interval_requested = Signal(int)
    _watch_requested = Signal(int, str)
    _unwatch_requested = Signal(int)
    _disks_requested = Signal(object)
    _stop_requested = Signal()

    def __init__(self, disk_paths: list[Path], parent: QObject | None = None, sampler_factory=None):
        super().__init__(parent)
        self.interval_ms = HIDDEN_INTERVAL_MS
        factory = sampler_factory or (lambda: HardwareSampler(disk_paths))
        self.thread = QThread()
        self.thread.setObjectName("hardware-sampler")
        self.worker = SamplerWorker(factory, self.interval_ms)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.start)
        self.worker.sample_taken.connect(self._relay)
        self._interval_requested.connect(self.worker.set_interval)
        self._watch_requested.connect(self.worker.watch)
        self._unwatch_requested.connect(self.worker.unwatch)
        self._disks_requested.connect(self.worker.set_disk_paths)
        # Blocking, so the timer is stopped in its own thread before that thread ends.
        self._stop_requested.connect(self.worker.stop, Qt.BlockingQueuedConnection)
        self.thread.start()

    @Slot(object)
    def _relay(self, sample) -> None:
        self.sample_taken.emit(sample)

    def set_visible(self, visible: bool) -> None:
        self.interval_ms = VISIBLE_INTERVAL_MS if visible else HIDDEN_INTERVAL_MS
        self._interval_requested.emit(self.interval_ms)

    def watch(self, pid: int, label: str) -> None:
        """Chart this process too (a training child) until it ends."""
        self._watch_requested.emit(pid, label)

    def unwatch(self, pid: int) -> None:
        self._unwatch_requested.emit(pid)

    def set_disk_paths(self, paths: list[Path]) -> None:
        self._disks_requested.emit(list(paths))

    def shutdown(self) -> None:
        if not self.thread.isRunning():
            return
        self._stop_requested.emit()
        self.thread.quit()
        if not self.thread.wait(5000):
            log.warning("hardware sampler thread did not stop in time")
