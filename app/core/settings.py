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
ON_ENGINE_LISTEN = "Applies when the engine next starts serving."

# The local OpenAI-compatible server. 8760: no peer or common dev server uses it (LM Studio 1234, Ollama 11434,
# Jan 1337, llama.cpp's server 8080, GPT4All 4891, Gradio 7860); it is not in the IANA well-known list either.
DEFAULT_SERVER_PORT = 8760
LOOPBACK_HOST = "127.0.0.1"
SERVER_SECTION = "Server"

# Each setting once, grouped as the Settings and Server tabs show them: (section title, when it applies, options).
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
    ("Training", AT_ONCE, (
        Option("train_nudge_after", "Suggest training after (ratings)", int, 20, "Suggest training a new version after this many new rated replies (0 = never).", 0, 100000, 5),
        Option("train_when_idle", "Train when idle", bool, False, "Train the next version automatically when the computer is idle and enough replies are rated."),
    )),
    # Edited on the Server tab (with the address to give other apps and the request log), not on Settings.
    (SERVER_SECTION, ON_ENGINE_LISTEN, (
        Option("server_enabled", "Serve other apps", bool, False, "Let other apps use the loaded model through the OpenAI-compatible API on the port below. The window always reaches its own engine, on or off."),
        Option("server_port", "Port", int, DEFAULT_SERVER_PORT, "The port other apps connect to.", 1024, 65535, 1),
        Option("server_host", "Address", str, LOOPBACK_HOST, "127.0.0.1: only this computer. Any other address lets other computers on that network connect."),
        Option("server_api_key", "API key", str, "", "Clients must send it as 'Authorization: Bearer KEY'. Empty: no key needed."),
        Option("server_cors_origins", "CORS origins", list, [], "Web pages (origins, one per line, e.g. http://localhost:3000) allowed to call the API from a browser. Empty: none."),
        Option("server_keep_api_conversations", "Keep API conversations", bool, False, "Store the API's exchanges as conversations; rated ones can then be used for training."),
        Option("server_keep_running", "Keep serving", bool, False, "After the window closes, the engine keeps serving other apps (until it is stopped, e.g. with Ctrl-C or by signing out)."),
    )),
)
APP_OPTIONS: tuple[Option, ...] = tuple(o for _title, _when, options in APP_SECTIONS for o in options)
LOAD_SETTINGS = tuple(o.key for o in APP_SECTIONS[0][2])  # what a loaded model must be reloaded to feel
SERVER_SETTINGS = tuple(o.key for title, _when, options in APP_SECTIONS if title == SERVER_SECTION for o in options)
# The sections the Settings tab draws; the server's has its own tab.
SETTINGS_PAGE_SECTIONS = tuple(s for s in APP_SECTIONS if s[0] != SERVER_SECTION)

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
