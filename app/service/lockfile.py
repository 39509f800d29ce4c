"""engine.json: how a window (or a second `hearth serve`) finds the engine already serving a data folder.

The engine writes it once it listens and removes it when it exits cleanly. It holds where the engine listens and
the internal token its window routes require, so it is written with owner-only permissions, atomically (a
temporary file in the same folder, then a rename: a reader never sees half a file).

A file can outlive its engine (a SIGKILL, a power cut), and a pid can be reused, so a lock counts as live only
when its pid runs and `GET /hearth/v1/status` on its port answers to its token (`live_engine`). A stale file is
simply replaced by the next engine.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from app import __version__, paths

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class EngineLock:
    pid: int
    port: int
    host: str
    token: str
    started: float  # epoch seconds
    version: str
    started_by: int | None  # the pid of the process the engine follows (--parent-pid), None when on its own

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):  # listening everywhere: this computer reaches it on loopback
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def new_lock(port: int, host: str, token: str, started_by: int | None = None) -> EngineLock:
    return EngineLock(os.getpid(), port, host, token, time.time(), __version__, started_by)


def write(lock: EngineLock, path: Path | None = None) -> Path:
    path = path or paths.engine_lock_file()
    fd, tmp = tempfile.mkstemp(prefix=".engine-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp creates it readable by its owner only
            json.dump(asdict(lock), f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(path: Path | None = None) -> EngineLock | None:
    """The lock as written, or None when there is none or it is not one (a damaged file is treated as absent)."""
    path = path or paths.engine_lock_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return EngineLock(
            pid=int(data["pid"]), port=int(data["port"]), host=str(data["host"]), token=str(data["token"]),
            started=float(data["started"]), version=str(data["version"]),
            started_by=None if data.get("started_by") is None else int(data["started_by"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring an unreadable %s (%s)", path.name, exc)
        return None


def remove(lock: EngineLock | None = None, path: Path | None = None) -> None:
    """Remove the file; with `lock`, only if it is still that lock (a newer engine's file stays)."""
    path = path or paths.engine_lock_file()
    if lock is not None and read(path) != lock:
        return
    path.unlink(missing_ok=True)


def pid_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def answers(lock: EngineLock, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether the engine at the lock's address is that engine: the status route accepts its token."""
    import httpx

    try:
        response = httpx.get(f"{lock.base_url}/hearth/v1/status", headers=lock.headers, timeout=timeout_s)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    try:
        return int(response.json().get("pid", -1)) == lock.pid
    except (ValueError, AttributeError):
        return False


def live_engine(path: Path | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> EngineLock | None:
    """The engine serving this data folder, if one runs and answers; None otherwise (also for a stale file)."""
    lock = read(path)
    if lock is None or not pid_running(lock.pid):
        return None
    return lock if answers(lock, timeout_s) else None
