"""The status bar's word when the engine died: one sentence, and a "Details…" button that opens the engine's last
stderr lines (what a bug report needs). It goes away once a fresh engine has loaded a model."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

from app.ui.plain_text import plain_label


class EngineDetailsDialog(QDialog):
    def __init__(self, summary: str, details: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("The engine stopped")
        self.resize(720, 420)
        layout = QVBoxLayout(self)
        intro = plain_label(summary)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        layout.addWidget(plain_label("The engine's last lines:"))
        self.text = QPlainTextEdit(details)
        self.text.setReadOnly(True)
        self.text.setFont(QFont("monospace"))
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(self._copy)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @Slot()
    def _copy(self) -> None:
        self.text.selectAll()
        self.text.copy()


class ElidedLabel(QLabel):
    """One line that ends in "…" when the status bar is narrower than the sentence (the tooltip has all of it)."""

    def __init__(self):
        super().__init__()
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)

    def set_full_text(self, text: str) -> None:
        self.full = text
        self.setToolTip(text)
        self.updateGeometry()
        self._elide()

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance(self.full) + 24, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(200, self.sizeHint().width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        room = self.width() - 24  # the style sheet pads the label by 10 px a side
        self.setText(self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideRight, max(0, room)))


class EngineCrashNotice(QWidget):
    """Hidden until the engine dies."""

    def __init__(self, engine, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary, self.details = "", ""
        self.dialog: EngineDetailsDialog | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.label = ElidedLabel()
        self.label.setObjectName("statusAlert")
        self.details_button = QPushButton("Details…")
        self.details_button.setObjectName("statusLink")
        self.details_button.setFlat(True)
        self.details_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.details_button.clicked.connect(self.show_details)
        layout.addWidget(self.label)
        layout.addWidget(self.details_button)
        self.hide()
        engine.engine_crashed.connect(self.show_crash)
        engine.worker.model_loaded.connect(self._recovered)

    @Slot(str, str)
    def show_crash(self, summary: str, details: str) -> None:
        self.summary, self.details = summary, details
        self.label.set_full_text(summary)
        self.show()

    @Slot()
    def show_details(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = EngineDetailsDialog(self.summary, self.details, self.window())
        self.dialog.show()

    @Slot(object)
    def _recovered(self, _info) -> None:
        self.hide()
