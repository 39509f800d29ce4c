"""The one module that knows where Hearth keeps things on disk.

Everything lives under one root: the platform's data directory, or $HEARTH_HOME when set
(tests and people who want a portable or isolated install use it).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_DIR_NAME = "Hearth"


def root() -> Path:
    override = os.environ.get("HEARTH_HOME")
    path = Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_DIR_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sub(name: str) -> Path:
    path = root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_file() -> Path:
    return root() / "hearth.sqlite3"


def settings_file() -> Path:
    return root() / "settings.json"


def engine_lock_file() -> Path:
    """engine.json: where the engine serving this data folder listens, and its token (see app/service/lockfile.py)."""
    return root() / "engine.json"


def ui_state_file() -> Path:
    """How the window was left (e.g. a collapsed panel): small, safe to delete, not a setting."""
    return root() / "ui-state.ini"


def models_dir() -> Path:
    return _sub("models")


def logs_dir() -> Path:
    return _sub("logs")


def runs_dir() -> Path:
    return _sub("runs")


def cache_dir() -> Path:
    """Things that can be rebuilt (training copies of GGUF models). $HEARTH_CACHE moves it, e.g. to a bigger disk."""
    override = os.environ.get("HEARTH_CACHE")
    path = Path(override).expanduser() if override else root() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def resources_dir() -> Path:
    """`app/resources/` (theme, images, screenshot samples): package data, so a wheel and a frozen app have it too."""
    return Path(__file__).resolve().parent / "resources"
