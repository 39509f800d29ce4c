"""Read-only text with a Copy button: the base URL and the client snippets on the Server tab.

What is shown and what is copied may differ: a hidden API key is masked on screen, yet Copy gives the working text.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, QTimer, Slot
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPlainTextEdit, QPushButton, QWidget

COPIED_FEEDBACK_MS = 1500
SHOWN_LINES = 6


class CopyLine(QWidget):
    """One line (the base URL) in a read-only field, with Copy beside it."""

    def __init__(self, tooltip: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.field = QLineEdit()
        self.field.setReadOnly(True)
        self.field.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.copy_button = CopyButton(tooltip)
        self.copy_button.clicked.connect(self.copy)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.field, 1)
        row.addWidget(self.copy_button)

    def set_text(self, text: str) -> None:
        self.field.setText(text)

    def text(self) -> str:
        return self.field.text()

    @Slot()
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.field.text())
        self.copy_button.confirm()


class CopyBlock(QPlainTextEdit):
    """A few lines of code in a fixed-width font; whoever places it gives it a Copy button (see `copy`)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("snippet")
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.WidgetWidth)  # nothing hidden on a small screen; Copy gives the lines
        self.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self._copied_text = ""

    def sizeHint(self) -> QSize:
        """A few lines: the page gives the rest of its height to the request log (a smaller screen scrolls this)."""
        lines = self.fontMetrics().lineSpacing() * SHOWN_LINES
        return QSize(super().sizeHint().width(), lines + 2 * self.frameWidth() + 16)

    def set_text(self, shown: str, copied: str | None = None) -> None:
        """Show `shown`; Copy gives `copied` (the same text when not given)."""
        self._copied_text = shown if copied is None else copied
        if self.toPlainText() != shown:
            self.setPlainText(shown)

    def shown_text(self) -> str:
        return self.toPlainText()

    def copied_text(self) -> str:
        return self._copied_text

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self._copied_text)


class CopyButton(QPushButton):
    """"Copy" that says "Copied" for a moment after it is clicked."""

    def __init__(self, tooltip: str):
        super().__init__("Copy")
        self.setToolTip(tooltip)
        self._reset = QTimer(self, singleShot=True, interval=COPIED_FEEDBACK_MS)
        self._reset.timeout.connect(lambda: self.setText("Copy"))

    def confirm(self) -> None:
        self.setText("Copied")
        self._reset.start()
