"""A sign, readable by any process, that an engine is using the model right now (a reply, an API request).

The engine puts up a small file, `generating/<pid>` under the data folder, while its model owner works, and takes
it down when the queue runs dry. A training job checks the folder between micro-batches and gives the cores to the
reply (app/core/training/yielding.py). The file holds the engine process's start time, so a sign left by an engine
that died (or whose pid a new process now has) is recognised as stale and ignored. No window is needed on either
side, and several engines on one data folder (a private benchmark engine) each keep their own sign.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psutil

from app import paths

log = logging.getLogger(__name__)

FOLDER_NAME = "generating"
SAME_PROCESS_S = 1.0  # start times read twice for one process agree far better than this; a reused pid does not


def default_folder() -> Path:
    return paths.root() / FOLDER_NAME


def _start_time(pid: int) -> float | None:
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except psutil.Error:
        return None


def _is_live(path: Path) -> bool:
    """A sign counts only while the process that put it up is still that process."""
    try:
        pid, written = int(path.name), float(path.read_text(encoding="ascii"))
    except (ValueError, OSError):  # not a sign, a half-written one, or one removed while we looked
        return False
    started = _start_time(pid)
    return started is not None and abs(started - written) <= SAME_PROCESS_S


def engine_generating(folder: Path | None = None) -> bool:
    """Is any live engine generating? One directory listing when none is (cheap enough for every micro-batch)."""
    try:
        entries = [Path(e.path) for e in os.scandir(folder or default_folder()) if e.name.isdigit()]
    except OSError:  # no folder yet: no engine has ever generated here
        return False
    return any(_is_live(path) for path in entries)


class GeneratingSign:
    """The engine's side. `up()` and `down()` are called from the model owner thread only; both are idempotent and
    never raise: a data folder that cannot be written costs the courtesy, never a reply."""

    def __init__(self, folder: Path | None = None):
        self.folder = folder or default_folder()
        self.path = self.folder / str(os.getpid())
        self.shown = False
        self._started = _start_time(os.getpid())
        self._sweep_stale()

    def _sweep_stale(self) -> None:
        """Signs of engines that ended without taking theirs down (killed, crashed) are removed on start-up."""
        try:
            for entry in os.scandir(self.folder):
                if entry.name.isdigit() and not _is_live(Path(entry.path)):
                    Path(entry.path).unlink(missing_ok=True)
        except OSError:
            pass

    def up(self) -> None:
        if self.shown or self._started is None:
            return
        self.shown = True
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")  # never read as a sign: not all digits
            partial.write_text(repr(self._started), encoding="ascii")
            os.replace(partial, self.path)  # readers see the whole sign or none
        except OSError as exc:
            log.warning("could not put up the generating sign %s: %s", self.path, exc)

    def down(self) -> None:
        if not self.shown:
            return
        self.shown = False
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not take down the generating sign %s: %s", self.path, exc)
