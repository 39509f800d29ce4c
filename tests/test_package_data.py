"""The files the app reads at run time are declared as package data, so a wheel install has them (no wheel build here)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from app import paths

ROOT = Path(__file__).resolve().parent.parent


def _manifest_includes() -> list[str]:
    """The `recursive-include DIR PATTERN` lines of MANIFEST.in as `DIR/**/PATTERN` globs relative to the checkout."""
    globs = []
    for line in (ROOT / "MANIFEST.in").read_text(encoding="utf-8").splitlines():
        words = line.split()
        if len(words) >= 3 and words[0] == "recursive-include":
            globs += [f"{words[1]}/*{pattern}" if pattern != "*" else f"{words[1]}/*" for pattern in words[2:]]
    return globs


def test_resources_live_inside_the_app_package():
    assert paths.resources_dir() == ROOT / "app" / "resources"
    assert (paths.resources_dir() / "theme.qss").is_file()


def test_every_resource_file_is_declared_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["setuptools"].get("include-package-data", True), "MANIFEST.in is only read with include-package-data"
    globs = _manifest_includes()
    files = [p.relative_to(ROOT).as_posix() for p in paths.resources_dir().rglob("*") if p.is_file()]
    assert files
    undeclared = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert undeclared == []
