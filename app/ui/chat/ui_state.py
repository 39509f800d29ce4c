"""How the chat was left on screen (e.g. the settings panel collapsed), kept across restarts.

A small INI file in the data folder (not ~/.config): it moves with HEARTH_HOME, and deleting it only resets the
layout. Not a setting: nothing here changes what the app does.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from app import paths

SETTINGS_PANEL_COLLAPSED = "chat/settings_panel_collapsed"


def _store() -> QSettings:
    return QSettings(str(paths.ui_state_file()), QSettings.IniFormat)


def load_flag(key: str, default: bool = False) -> bool:
    value = _store().value(key, default)
    return value in (True, "true", "1", 1) if not isinstance(value, bool) else value


def save_flag(key: str, value: bool) -> None:
    store = _store()
    store.setValue(key, bool(value))
    store.sync()  # written now: the app may be killed rather than closed
