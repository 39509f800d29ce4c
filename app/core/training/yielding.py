"""Training gives way to chat: while the engine is generating a reply, the training child yields the cores and
takes them back when the reply ends.

Two parts, because a micro-batch's forward and backward can take seconds on a small CPU:
- the whole job runs at a low priority from the start (nice 19; Windows: below normal). A reply that starts in the
  middle of a micro-batch gets its core at once from the OS scheduler, and an unprivileged process could not raise
  its priority back anyway, so it stays low for the job's life. With nothing else running this costs nothing;
- between micro-batches the job looks for the engine's sign (app/core/engine/generating_sign.py) and, while it is
  up, trains on one thread, leaving the other cores to the reply (and the window showing it), then takes all its
  threads back. It never waits: a sign stuck up (a hung engine) slows training, it cannot stop it.

HEARTH_TRAIN_COURTESY=off turns both off (the benchmark's comparison, `hearth bench train-chat`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from app.core.engine.generating_sign import engine_generating

log = logging.getLogger(__name__)

SWITCH = "HEARTH_TRAIN_COURTESY"
NICE = 19  # CFS shares a core about 70:1 between a reply's thread (nice 0) and a training thread at 19
THREADS_WHILE_GENERATING = 1  # the engine's default leaves one core free (settings.default_threads): this is it


def courtesy_enabled() -> bool:
    return os.environ.get(SWITCH, "on").strip().lower() not in ("off", "0", "false", "no")


def lower_priority() -> None:
    """This process, every thread it has now and every thread it starts later, at background priority."""
    import psutil

    if sys.platform == "win32":
        psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
        return
    target = max(NICE, os.getpriority(os.PRIO_PROCESS, 0))  # never raise it (an unprivileged process cannot)
    # On Linux a nice value belongs to a thread, and new threads copy their creator's: the threads that exist
    # already (the parent watcher, a thread pool) are lowered one by one, and torch's later ones inherit.
    ids = [t.id for t in psutil.Process().threads()] if sys.platform.startswith("linux") else [0]
    for thread_id in ids:
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, target)
        except OSError:  # the thread ended meanwhile
            pass


class ChatCourtesy:
    """Called by the training loop between micro-batches."""

    def __init__(self, full_threads: int, folder: Path | None = None):
        self.full_threads = full_threads
        self.folder = folder  # where engines put up their sign; the data folder's by default
        self.enabled = courtesy_enabled()
        self.yielding = False

    def start(self) -> None:
        """Once, before training: lower this process's priority."""
        if not self.enabled:
            return
        try:
            lower_priority()
        except (OSError, ImportError) as exc:  # a platform that refuses: training goes on at normal priority
            log.warning("could not lower the training job's priority: %s", exc)

    def between_batches(self) -> None:
        """Before each forward pass: fewer threads while a reply is being generated, all of them after."""
        if not self.enabled:
            return
        generating = engine_generating(self.folder)
        if generating == self.yielding:
            return
        import torch

        self.yielding = generating
        torch.set_num_threads(min(THREADS_WHILE_GENERATING, self.full_threads) if generating else self.full_threads)
