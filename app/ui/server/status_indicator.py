"""The status bar's word on the local server: "Server on :8760" while it is on, and a warning while it is open to
other computers. Either one, clicked, opens the Server tab."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from app.core import local_server
from app.core.settings import SERVER_SETTINGS, Settings


class ServerIndicator(QWidget):
    clicked = Signal()

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.on_button = QPushButton()
        self.on_button.setObjectName("statusLink")
        self.open_warning = QPushButton()
        self.open_warning.setObjectName("statusWarning")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.listening: local_server.ListenCheck | None = None
        for button in (self.open_warning, self.on_button):
            button.setFlat(True)
            button.clicked.connect(self.clicked)
            row.addWidget(button)
        self.refresh()

    @Slot(str, object)
    def on_setting_changed(self, key: str, _value: Any) -> None:
        if key in SERVER_SETTINGS:
            self.refresh()

    @Slot(object)
    def set_listening(self, check: local_server.ListenCheck | None) -> None:
        """What the Server tab found answering at the address (it checks when the setting or the engine changes);
        None while that is not known (the engine is restarting)."""
        self.listening = check
        self.refresh()

    def refresh(self) -> None:
        s = self.settings
        on, host, port = s["server_enabled"], s["server_host"], s["server_port"]
        url = local_server.base_url(host, port)
        state = self.listening.state if self.listening is not None else None
        if state == "closed":
            self.on_button.setText(f"Server :{port} not serving yet")
            self.on_button.setToolTip(f"The server is on, but nothing serves {url} yet: it starts when the engine "
                                      "restarts. Click for the Server tab.")
        elif state == "other":
            self.on_button.setText(f"Server: port {port} in use")
            self.on_button.setToolTip(f"Another program answers at {url}. Click for the Server tab.")
        else:
            self.on_button.setText(f"Server on :{port}")
            self.on_button.setToolTip(f"Other apps can use the OpenAI-compatible API at {url}. Click for the Server "
                                      "tab.")
        self.on_button.setVisible(on)
        exposed = on and not local_server.is_loopback(host)
        self.open_warning.setText("⚠ Open to the network")
        self.open_warning.setToolTip(local_server.exposure_warning(host, port, bool(s["server_api_key"])))
        self.open_warning.setVisible(exposed)
        self.setVisible(on)
