"""A training child that belongs to the process that started it (`hearth train`, a screenshot run): when that
process ends, however it ends (SIGKILL included), the child ends too instead of training on for nobody.

The window's own jobs are not tied this way: they are meant to outlive the window and be re-attached later.
"""

from __future__ import annotations

import threading
import time
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


def watch_parent(pid: int, on_gone: Callable[[], None], every_s: float = CHECK_EVERY_S) -> None:
    """Call `on_gone` once `pid` has ended: at once when it already has, else from a daemon thread."""
    try:
        parent = psutil.Process(pid)
    except psutil.Error:
        on_gone()
        return

    def loop() -> None:
        while parent_alive(parent):
            time.sleep(every_s)
        on_gone()

    threading.Thread(target=loop, name=f"watch-parent-{pid}", daemon=True).start()
