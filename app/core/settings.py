"""App-wide settings, declared once and kept in a small JSON file beside the database.

Whoever shows or uses a setting subscribes to changes (a plain callback list: core knows no Qt), so the Settings
page, the Monitor's warning floor and the model host agree whichever of them changed it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from app import paths
from app.core.options import Option, resolve

log = logging.getLogger(__name__)


def default_threads() -> int:
    # Measured on a 2-core machine: llama.cpp with every core busy ran several times slower as soon as the UI
    # or anything else needed a core. Leaving one physical core free keeps decode speed steady.
    physical = psutil.cpu_count(logical=False) or os.cpu_count() or 2
    return max(1, physical - 1)


# When a change is felt: the model host reads these when it loads a model; the others are read when used.
ON_NEXT_LOAD = "Applies when the model is next loaded."
AT_ONCE = "Applies at once."
FOR_NEW_CHATS = "Applies to new conversations."

# Each setting once, grouped as the Settings page shows them: (section title, when it applies, options).
# The engine-service issue adds its section here (the local server's options), and the page shows it unchanged.
APP_SECTIONS: tuple[tuple[str, str, tuple[Option, ...]], ...] = (
    ("Model loading", ON_NEXT_LOAD, (
        Option("n_threads", "CPU threads", int, default_threads(), "Threads llama.cpp uses to generate. Leave one core free for the app.", 1, 256, 1),
        Option("context_length", "Context length", int, 4096, "Tokens the model can see at once (capped at what the model was trained for). More uses more memory.", 512, 131072, 512),
        Option("gpu_layers", "GPU layers", int, 0, "Layers to offload to the GPU when there is one (-1 = all).", -1, 1000, 1),
    )),
    ("Chat", FOR_NEW_CHATS, (
        Option("default_system_prompt", "Default system prompt", str, "", "Used for new conversations. Empty means the model's own default."),
    )),
    ("Memory", AT_ONCE, (
        Option("low_memory_warning_mb", "Low-memory warning (MB)", int, 512, "Warn when free memory falls below this, whatever model is loaded (0 turns it off).", 0, 1048576, 256),
    )),
)
APP_OPTIONS: tuple[Option, ...] = tuple(o for _title, _when, options in APP_SECTIONS for o in options)
LOAD_SETTINGS = tuple(o.key for o in APP_SECTIONS[0][2])  # what a loaded model must be reloaded to feel

SettingsListener = Callable[[str, Any], None]


class Settings:
    def __init__(self, path: Path | None = None):
        self.path = path or paths.settings_file()
        self._values = resolve(APP_OPTIONS, self._read())
        self._listeners: list[SettingsListener] = []

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("settings file %s unreadable (%s); using defaults", self.path, exc)
            return {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def set(self, key: str, value: Any) -> None:
        """Store a value (coerced and clamped by its option), write the file, and tell the listeners. Setting the
        value a setting already has does nothing, so two views that mirror each other do not loop."""
        option = next(o for o in APP_OPTIONS if o.key == key)
        value = option.coerce(value)
        if self._values[key] == value:
            return
        self._values[key] = value
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._values, indent=2), encoding="utf-8")
        tmp.replace(self.path)
        for listener in list(self._listeners):
            listener(key, value)

    def subscribe(self, listener: SettingsListener) -> Callable[[], None]:
        """Call `listener(key, value)` after each change; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)
