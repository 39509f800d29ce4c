"""The thread of messages. Follows the bottom while a reply streams, unless the reader has scrolled up."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QScrollArea, QVBoxLayout, QWidget

from app.core.storage.conversations import ThreadMessage
from app.ui.chat.message_widget import MessageWidget, author
from app.ui.plain_text import plain_label

FOLLOW_SLACK_PX = 48


class MessageView(QScrollArea):
    copy_requested = Signal(int)
    regenerate_requested = Signal(int)
    edit_submitted = Signal(int, str)
    sibling_requested = Signal(int)
    rating_changed = Signal(int, int)
    correction_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageView")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self._content = QWidget()
        self._content.setObjectName("messageColumn")
        self._layout = QVBoxLayout(self._content)
        self._layout.setContentsMargins(24, 16, 24, 16)
        self._layout.setSpacing(12)
        self._empty = plain_label("Start a conversation: type below and press Enter.\nEverything stays on this computer.")
        self._empty.setObjectName("emptyHint")
        self._empty.setAlignment(Qt.AlignCenter)
        self._empty.setWordWrap(True)
        self._layout.addWidget(self._empty)
        self._layout.addStretch(1)
        self.setWidget(self._content)
        self.widgets: dict[int, MessageWidget] = {}
        self.follow = True
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    # Follow-the-bottom: the user scrolling away turns it off; coming back to the bottom turns it on.
    def _on_scrolled(self, value: int) -> None:
        self.follow = value >= self.verticalScrollBar().maximum() - FOLLOW_SLACK_PX

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self.follow:
            self.verticalScrollBar().setValue(maximum)

    def scroll_to_bottom(self) -> None:
        self.follow = True
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

    def set_thread(self, messages: list[ThreadMessage]) -> None:
        """Show a branch, reusing widgets for messages already on screen."""
        keep = {m.id for m in messages}
        for mid in [mid for mid in self.widgets if mid not in keep]:
            gone = self.widgets.pop(mid)
            self._layout.removeWidget(gone)  # off the screen now, not when the event loop gets to the deletion
            gone.hide()
            gone.deleteLater()
        previous: tuple[str | None, str | None] | None = None
        for index, message in enumerate(messages):
            widget = self.widgets.get(message.id)
            if widget is None:
                widget = self._make(message)
            else:
                widget.set_message(message)
            if message.role == "assistant":
                current = (message.model_name, message.backend, message.adapter_name)
                switched = previous is not None and current != previous and message.model_name
                widget.set_switch_note(
                    f"Switched to {author(message)}" + (f" on {message.backend}" if message.backend else "")
                    if switched else ""
                )
                previous = current
            if self._layout.indexOf(widget) != index + 1:
                self._layout.insertWidget(index + 1, widget)
        self._empty.setVisible(not messages)

    def _make(self, message: ThreadMessage) -> MessageWidget:
        widget = MessageWidget(message)
        widget.copy_requested.connect(self.copy_requested)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.edit_submitted.connect(self.edit_submitted)
        widget.sibling_requested.connect(self.sibling_requested)
        widget.rating_changed.connect(self.rating_changed)
        widget.correction_requested.connect(self.correction_requested)
        self.widgets[message.id] = widget
        return widget

    def append_text(self, message_id: int, text: str) -> None:
        widget = self.widgets.get(message_id)
        if widget is not None:
            widget.append_text(text)

    def widget_for(self, message_id: int) -> MessageWidget | None:
        return self.widgets.get(message_id)
