"""A training child that belongs to the process that started it (`hearth train`, a screenshot run): when that
process ends, however it ends (SIGKILL included), the child ends too instead of training on for nobody.

The window's own jobs are not tied this way: they are meant to outlive the window and be re-attached later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psutil

CHECK_EVERY_S = 1.0


def parent_alive(process: psutil.Process) -> bool:
    """Whether the process we started watching still runs. psutil's is_running() also tells a reused pid apart,
    without comparing wall-clock start times (which a clock step would shift)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def watch_parent(pid: int, on_gone: Callable[[], None], every_s: float = CHECK_EVERY_S) -> threading.Thread | None:
    """Call `on_gone` (from a daemon thread) once `pid` has ended. None when it has already ended."""
    try:
        parent = psutil.Process(pid)
    except psutil.Error:
        on_gone()
        return None
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            if not parent_alive(parent):
                on_gone()
                return

    thread = threading.Thread(target=loop, name=f"watch-parent-{pid}", daemon=True)
    thread.stop = stop  # type: ignore[attr-defined]
    thread.start()
    return thread
