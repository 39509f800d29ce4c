"""Where the nudge to train the next version shows: a quiet bar at the top of the Training tab, and a link in the
status bar. Both show the same text and ask for the same thing when clicked."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QPushButton, QWidget

from app.core.training.versions import Nudge
from app.ui.plain_text import plain_label


def _explain(nudge: Nudge) -> str:
    return (f"Trains {nudge.assistant} v{nudge.next_number} with the last job's settings on every rated reply, "
            "in the background; chat stays usable. The new version then appears under Adapters.")


class NudgeBar(QFrame):
    train_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("nudgeBar")
        self.text = plain_label("")
        self.text.setObjectName("nudgeText")
        self.button = QPushButton()
        self.button.clicked.connect(self.train_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 4, 8, 4)
        row.addWidget(self.text)
        row.addWidget(self.button)
        row.addStretch(1)
        self.hide()

    @Slot(object)
    def show_nudge(self, nudge: Nudge | None) -> None:
        if nudge is None:
            self.hide()
            return
        self.text.setText(nudge.text)
        self.button.setText(f"Train v{nudge.next_number}")
        self.button.setToolTip(_explain(nudge))
        self.show()


class StatusNudge(QPushButton):
    """The nudge in the status bar, as a link: a click starts the next version (and shows the Training tab)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("statusLink")
        self.setFlat(True)
        self.hide()

    @Slot(object)
    def show_nudge(self, nudge: Nudge | None) -> None:
        if nudge is None:
            self.hide()
            return
        self.setText(nudge.text)
        self.setToolTip(_explain(nudge) + " Click to start it.")
        self.show()
