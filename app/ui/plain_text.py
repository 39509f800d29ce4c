"""Labels and message boxes that show their text as text.

QLabel and QMessageBox guess rich text from the string (Qt::AutoText), and what Hearth shows comes largely from
outside it: model, file and repo names, conversation titles, hub messages, errors. A name like "<img src=x>" must
read as those characters, so every label and box in the app is made here, plain from the start.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setTextFormat(Qt.PlainText)
    return label


def message_box(
    parent: QWidget | None,
    title: str,
    text: str,
    icon: QMessageBox.Icon = QMessageBox.Warning,
    buttons: QMessageBox.StandardButton = QMessageBox.NoButton,
) -> QMessageBox:
    """A box to fill with buttons and exec(); with no buttons given, Qt adds an OK button."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.PlainText)
    return box


def warn(parent: QWidget | None, title: str, text: str) -> None:
    message_box(parent, title, text).exec()


def inform(parent: QWidget | None, title: str, text: str) -> None:
    message_box(parent, title, text, QMessageBox.Information).exec()


def confirm(parent: QWidget | None, title: str, text: str) -> bool:
    """Yes / No; True for Yes."""
    box = message_box(parent, title, text, QMessageBox.Question, QMessageBox.Yes | QMessageBox.No)
    return box.exec() == QMessageBox.Yes
