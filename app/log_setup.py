"""Logging for a whole Hearth process, set up once at its start: a rotating log and a crash trace a user can send.

Each kind of process has its own files in the logs folder: `window.log`, `engine.log` (`hearth serve`),
`train-worker.log`, and `cli.log` for every other command (also those the window runs as children), each with a
`<kind>-crash.log` beside it. The window and a training job run for hours, so their stories stay readable
apart. Two processes of one kind can still run at once (two commands, two training jobs), so every line carries
its process id. RotatingFileHandler does not coordinate processes: when one rotates, another goes on appending to
the renamed file until it rotates in turn, so nothing is lost; where the rename is refused (Windows, while another
process holds the file open) the handler keeps appending and tries again with the next line.

Python cannot log any more once native code (llama.cpp, torch) crashes the process, so faulthandler writes every
thread's Python stack to the crash file at that moment. That file stays open for the life of the process,
because faulthandler writes to its descriptor.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import platform
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TextIO

from app import __version__, paths

LOG_BYTES = 2_000_000
LOG_BACKUPS = 3  # at most 8 MB per kind of process
CRASH_LOG_BYTES = 1_000_000  # a crash file past this is moved aside at the next start
FILE_FORMAT = "%(asctime)s pid %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Log with extra={SHOWN: True} an error the user is already shown (in the window, or "hearth: ..." on stderr):
# it goes into the file but is not printed on the console a second time.
SHOWN = "shown_to_user"

_started: Path | None = None
_crash_file: TextIO | None = None


def process_kind(command: str | None) -> str:
    """Which files a `hearth` sub-command writes: the window's, a training worker's, or the commands'."""
    if command in (None, "window-probe"):
        return "window"
    if command == "serve":
        return "engine"
    return "train-worker" if command == "train-worker" else "cli"


def log_file(kind: str) -> Path:
    return paths.logs_dir() / f"{kind}.log"


def crash_file(kind: str) -> Path:
    return paths.logs_dir() / f"{kind}-crash.log"


class _SharedRotatingFileHandler(RotatingFileHandler):
    def doRollover(self) -> None:
        try:
            super().doRollover()
        except OSError:  # another process holds the file open: keep appending, the next line tries again
            if self.stream is None:
                self.stream = self._open()


class _NotShownYet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, SHOWN, False)


def start(kind: str) -> Path:
    """Set up this process's logging and crash trace, once (later calls change nothing); returns the log file."""
    global _started
    if _started is not None:
        return _started
    root = logging.getLogger()
    root.setLevel(logging.WARNING)  # other libraries: warnings and errors only (httpx alone logs every request)
    try:
        path = log_file(kind)
        to_file = _SharedRotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:  # a read-only or full data folder: Hearth still runs, it just cannot keep a log
        path, to_file, unwritable = Path(f"{kind}.log"), None, exc
    else:
        to_file.setFormatter(logging.Formatter(FILE_FORMAT))
        root.addHandler(to_file)
    if sys.stderr is not None:  # a frozen windowed app has no console at all
        console = logging.StreamHandler()
        console.setLevel(logging.WARNING)
        console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
        console.addFilter(_NotShownYet())
        root.addHandler(console)
    logging.getLogger("app").setLevel(logging.INFO)  # Hearth's own steps: loads, jobs, downloads
    if to_file is None:
        logging.getLogger(__name__).warning("cannot write %s in the logs folder (%s); logging to the console only",
                                            path.name, unwritable)
    else:
        _trace_crashes(crash_file(kind))
    _log_uncaught()
    _started = path
    logging.getLogger(__name__).info("Hearth %s %s started (Python %s, %s)", __version__, kind,
                                     platform.python_version(), platform.platform())
    return path


def _trace_crashes(path: Path) -> None:
    global _crash_file
    try:
        if path.stat().st_size > CRASH_LOG_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except OSError:
        pass  # no crash yet, or another process holds the file open
    try:
        _crash_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open until the process ends, on purpose
    except OSError:
        return
    faulthandler.enable(_crash_file, all_threads=True)


def _log_uncaught() -> None:
    """Uncaught exceptions (in the main thread, other threads, and Qt slots, which go through sys.excepthook) are
    logged with their trace; the previous hooks still print them."""
    log = logging.getLogger("app.uncaught")
    previous, previous_in_thread = sys.excepthook, threading.excepthook

    def hook(kind, value, trace) -> None:
        if not issubclass(kind, KeyboardInterrupt):
            log.critical("uncaught exception", exc_info=(kind, value, trace), extra={SHOWN: True})
        previous(kind, value, trace)

    def hook_in_thread(args) -> None:
        if not issubclass(args.exc_type, SystemExit):
            name = args.thread.name if args.thread is not None else "?"
            log.critical("uncaught exception in thread %s", name,
                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback), extra={SHOWN: True})
        previous_in_thread(args)

    sys.excepthook, threading.excepthook = hook, hook_in_thread
