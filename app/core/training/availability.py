"""Whether this install can train, asked without importing anything heavy: training runs torch, transformers and
peft in a child process, and those come with the optional `[train]` extra. The window and `hearth train` ask here
before starting a job, so a missing extra is one line with the exact install command instead of a failed job.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shlex
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

# What the worker imports for LoRA (QLoRA's bitsandbytes is optional: the form falls back to LoRA without it).
TRAINING_PACKAGES = ("torch", "transformers", "peft")
DISTRIBUTION = "hearth"
EXTRA = "train"


@dataclass(frozen=True)
class TrainingSupport:
    missing: tuple[str, ...]
    install_command: str | None  # None in a frozen build: there is nothing to install into

    @property
    def ready(self) -> bool:
        return not self.missing

    def message(self) -> str:
        """One line for a person: what is missing and how to get it ("" when nothing is)."""
        if self.ready:
            return ""
        names = _join(self.missing)
        verb = "is" if len(self.missing) == 1 else "are"
        if self.install_command is None:
            return f"Training needs {names}, which {verb} not part of this build of Hearth."
        return (f"Training needs {names} (the [{EXTRA}] extra), which {verb} not installed. "
                f"Install {'it' if len(self.missing) == 1 else 'them'} with: {self.install_command}")


def _join(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def missing_packages(names: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The packages of `names` (default: TRAINING_PACKAGES) that cannot be imported, found without importing them.
    The finders' caches are dropped first, so a package installed while the app runs is seen."""
    importlib.invalidate_caches()
    missing = []
    for name in names if names is not None else TRAINING_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a broken half-install counts as missing
            found = False
        if not found:
            missing.append(name)
    return tuple(missing)


def _quote(text: str) -> str:
    if sys.platform == "win32":
        return f'"{text}"'
    return shlex.quote(text)


def install_command() -> str | None:
    """The pip command that adds the extra to the Python running Hearth, in the form this copy was installed in:
    an editable checkout gets `-e <checkout>[train]`, a package from an index gets `hearth[train]`."""
    if getattr(sys, "frozen", False):
        return None
    python = _quote(sys.executable)
    source = _source_folder()
    if source is not None:
        return f"{python} -m pip install -e {_quote(f'{source}[{EXTRA}]')}"
    return f"{python} -m pip install {_quote(f'{DISTRIBUTION}[{EXTRA}]')}"


def _source_folder() -> Path | None:
    """The checkout this copy runs from when it was installed editable (or is not installed at all)."""
    # Run from a checkout, the checkout's own `hearth.egg-info` can be found first: the installed record is the
    # one pip wrote `direct_url.json` into.
    records = [d.read_text("direct_url.json") for d in metadata.distributions(name=DISTRIBUTION)]
    if not records:
        root = Path(__file__).resolve().parents[3]  # app/core/training/ -> the checkout
        return root if (root / "pyproject.toml").is_file() else None
    try:
        direct = json.loads(next((r for r in records if r), "{}"))
    except ValueError:
        return None
    url = direct.get("url", "")
    if direct.get("dir_info", {}).get("editable") and url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        path = unquote(urlparse(url).path)
        if sys.platform == "win32" and path.startswith("/") and path[2:3] == ":":
            path = path[1:]  # file:///C:/... -> C:/...
        return Path(path)
    return None


def training_support() -> TrainingSupport:
    missing = missing_packages()
    return TrainingSupport(missing, install_command() if missing else None)
