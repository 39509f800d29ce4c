"""Training gives way to chat: while the engine is generating a reply, the training child yields the cores and
takes them back when the reply ends.

Two parts, because a micro-batch's forward and backward can take seconds on a small CPU:
- between micro-batches the job looks for the engine's sign (app/core/engine/generating_sign.py) and, while it is
  up, trains on one thread, leaving the other cores to the reply (and the window showing it), then takes all its
  threads back. It never waits: a sign stuck up (a hung engine) slows training, it cannot stop it;
- the first time it sees a reply, the job drops to background priority (nice 19; Windows: below normal) for the rest
  of its life, so a reply that starts in the middle of a later micro-batch gets its core from the OS scheduler at
  once. An unprivileged process cannot raise its priority again, hence "for the rest of its life"; and it waits for
  the first reply rather than starting low, so a job nobody chats beside (a benchmark, a person away) keeps its
  normal standing against the other programs on the machine. The first reply pays for at most one micro-batch.

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
    # On Linux a nice value belongs to a thread, and a new thread copies its creator's: the threads that exist
    # already (torch's pool, the parent watcher) are lowered one by one, and those started later inherit it.
    ids = [t.id for t in psutil.Process().threads()] if sys.platform.startswith("linux") else [0]
    for thread_id in ids:
        try:
            os.setpriority(os.PRIO_PROCESS, thread_id, target)
        except OSError:  # the thread ended meanwhile
            pass


class ChatCourtesy:
    """Called by the training loop: `start()` once before training, `between_batches()` before each forward pass."""

    def __init__(self, full_threads: int, folder: Path | None = None):
        self.full_threads = full_threads
        self.folder = folder  # where engines put up their sign; the data folder's by default
        self.enabled = courtesy_enabled()
        self.yielding = False
        self.lowered = False

    def start(self) -> None:
        """Before training: a reply already under way is given way to at once."""
        self.between_batches()

    def between_batches(self) -> None:
        """Fewer threads while a reply is being generated, all of them after."""
        if not self.enabled:
            return
        generating = engine_generating(self.folder)
        if generating and not self.lowered:
            self.lowered = True
            try:
                lower_priority()
            except (OSError, ImportError) as exc:  # a platform that refuses: the threads still make room
                log.warning("could not lower the training job's priority: %s", exc)
        if generating == self.yielding:
            return
        import torch

        self.yielding = generating
        torch.set_num_threads(min(THREADS_WHILE_GENERATING, self.full_threads) if generating else self.full_threads)
