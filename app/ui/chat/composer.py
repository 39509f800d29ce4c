"""The message box: Enter sends, Shift+Enter starts a new line; the Send button becomes Stop while generating."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QWidget


class ComposerEdit(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and not event.modifiers() & Qt.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("composer")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(24, 8, 24, 16)
        self.edit = ComposerEdit()
        self.edit.setObjectName("composerEdit")
        self.edit.setPlaceholderText("Message Hearth…  (Enter to send, Shift+Enter for a new line)")
        self.edit.setFixedHeight(76)
        self.button = QPushButton("Send")
        self.button.setObjectName("primaryButton")
        self.button.setFixedWidth(88)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button, 0, Qt.AlignBottom)
        self.generating = False
        self.edit.submitted.connect(self._submit)
        self.button.clicked.connect(self._clicked)

    def set_generating(self, generating: bool) -> None:
        self.generating = generating
        self.button.setText("Stop" if generating else "Send")
        self.button.setObjectName("stopButton" if generating else "primaryButton")
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)

    def _clicked(self) -> None:
        if self.generating:
            self.stop_requested.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        if self.generating:
            return
        text = self.edit.toPlainText()
        if text.strip():
            self.edit.clear()
            self.send_requested.emit(text)
