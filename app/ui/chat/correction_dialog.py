"""Asks for the reply the assistant should have given. Training later learns from these."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QPlainTextEdit, QVBoxLayout, QWidget

from app.ui.plain_text import plain_label


class CorrectionDialog(QDialog):
    def __init__(self, original: str, correction: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Correct this reply")
        self.resize(560, 380)
        layout = QVBoxLayout(self)
        hint = plain_label(
            "Write the reply you wanted. It is saved with a thumbs-down on the original, and the Training tab can "
            "teach the assistant from it."
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.editor = QPlainTextEdit(correction or original)
        layout.addWidget(self.editor, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def text(self) -> str:
        return self.editor.toPlainText().strip()
