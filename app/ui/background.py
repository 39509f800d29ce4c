"""Run a function off the UI thread and get its result (or error) back on the main thread.

Widgets call `run_in_background(fn, on_done, on_error)` and never touch threads themselves. The callbacks are
delivered through a QObject that lives on the main thread, so they always run there (a plain lambda connected
to a worker's signal would run in the worker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Relay(QObject):
    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(self, on_done: Callable[[Any], None] | None, on_error: Callable[[BaseException], None] | None):
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.succeeded.connect(self._deliver_done)
        self.failed.connect(self._deliver_error)

    @Slot(object)
    def _deliver_done(self, result: Any) -> None:
        _live.discard(self)
        if self._on_done:
            self._on_done(result)

    @Slot(object)
    def _deliver_error(self, error: BaseException) -> None:
        _live.discard(self)
        if self._on_error:
            self._on_error(error)


_live: set[_Relay] = set()  # keeps relays alive until their callback has run


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay):
        super().__init__()
        self.fn, self.relay = fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            self.relay.failed.emit(exc)
        else:
            self.relay.succeeded.emit(result)


def run_in_background(
    fn: Callable[[], Any],
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> None:
    relay = _Relay(on_done, on_error)  # created here, so it lives on the calling (main) thread
    _live.add(relay)
    QThreadPool.globalInstance().start(_Job(fn, relay))
