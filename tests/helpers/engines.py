"""Finding and ending engine processes (`hearth serve`) a test started, so none outlives its test."""

from __future__ import annotations

import os

import psutil


def is_engine(proc: psutil.Process) -> bool:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return "serve" in cmd and any(part == "app" or part.endswith(("hearth", "hearth.exe")) for part in cmd)


def engines_under(pid: int | None = None) -> list[psutil.Process]:
    """Engine processes descended from `pid` (this process by default)."""
    try:
        children = psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.Error:
        return []
    return [p for p in children if is_engine(p)]


def engines_for_home(home) -> list[psutil.Process]:
    """Engine processes serving the data folder `home` (whoever started them): HEARTH_HOME in their environment."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        if not is_engine(proc):
            continue
        try:
            if proc.environ().get("HEARTH_HOME") == str(home):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=10)
