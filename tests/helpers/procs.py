"""Running Hearth in child processes, the way a user (or a crash) would."""

from __future__ import annotations

import os
import subprocess
import sys


def hearth(*args: str, home, timeout: float = 180, **kwargs) -> subprocess.CompletedProcess:
    env = dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def spawn(*args: str, home) -> subprocess.Popen:
    env = dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen(
        [sys.executable, "-m", "app", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
