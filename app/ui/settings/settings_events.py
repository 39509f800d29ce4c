"""The one place where core settings changes become a Qt signal: every view that shows a setting connects here."""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Signal

from app.core.settings import Settings


class SettingsEvents(QObject):
    setting_changed = Signal(str, object)  # key, new value (already saved)

    def __init__(self, settings: Settings, parent: QObject | None = None):
        super().__init__(parent)
        self._unsubscribe = settings.subscribe(self._relay)

    def _relay(self, key: str, value: Any) -> None:
        if shiboken6.isValid(self):  # core may outlive the window that listened
            self.setting_changed.emit(key, value)

    def close(self) -> None:
        self._unsubscribe()
