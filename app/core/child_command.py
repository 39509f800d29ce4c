"""How Hearth starts a copy of itself as a child process (the engine, a training job, an export).

One place decides: in a frozen app the child is the app's own executable with a sub-command; otherwise it is
this Python running `-m app`. The environment is the parent's, unbuffered, so a child's output arrives line by
line (the window keeps the tail of the engine's stderr for its crash report).
"""

from __future__ import annotations

import os
import sys


def app_command(*args: str) -> list[str]:
    """A command line running Hearth itself: the app's own executable when frozen, else this Python with `-m app`."""
    head = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "app"]
    return [*head, *args]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def end_tree(proc, graceful_s: float = 30.0) -> None:
    """Ask a child (a `subprocess.Popen`) to stop with SIGTERM, give it `graceful_s`, then kill it and everything it
    started. The tree is read first: once the child is gone, its own children can no longer be found from it."""
    import subprocess

    import psutil

    try:
        parent = psutil.Process(proc.pid)
        tree = [*parent.children(recursive=True), parent]
    except psutil.Error:
        tree = []
    if proc.poll() is None and graceful_s > 0:
        proc.terminate()
        try:
            proc.wait(timeout=graceful_s)
        except subprocess.TimeoutExpired:
            pass
    for process in tree:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(tree, timeout=10)
    proc.wait(10)
