"""One message in the thread: who, the rendered text, stats, sibling flipping, and the actions under it."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QCursor, QDesktopServices, QGuiApplication, QTextOption
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from app.core.storage.conversations import ThreadMessage
from app.ui.chat.flow_layout import FlowLayout
from app.ui.chat.markdown_html import COPY_SCHEME, render
from app.ui.plain_text import plain_label

STATUS_NOTES = {
    "interrupted": "Interrupted: the app or its engine stopped while this reply was being written.",
    "error": "Failed",
    "streaming": "",
}


class MarkdownView(QTextBrowser):
    """A read-only rich-text view that is exactly as tall as its content (the thread scrolls, not the message)."""

    code_copied = Signal(int)  # index of the code block whose code went to the clipboard

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setOpenLinks(False)  # a code block's "Copy" is a link too: links are handled in _on_link
        self.anchorClicked.connect(self._on_link)
        self.setFrameShape(QFrame.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapAtWordBoundaryOrAnywhere)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self.markdown = ""
        self.code_blocks: tuple[str, ...] = ()

    def set_markdown(self, text: str) -> None:
        self.markdown = text
        rendered = render(text)
        self.code_blocks = rendered.code_blocks
        self.setHtml(rendered.html if text else "")

    def _on_link(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            index = int(url.path()) if url.path().isdigit() else -1
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
                QToolTip.showText(QCursor.pos(), "Copied", self)
                self.code_copied.emit(index)
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)

    def _fit_height(self, *_args) -> None:
        height = int(self.document().size().height()) + 4
        if height != self.height():
            self.setFixedHeight(height)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.document().setTextWidth(self.viewport().width())
        self._fit_height()

    def sizeHint(self) -> QSize:
        return QSize(400, int(self.document().size().height()) + 4)


class WrappingLabel(QLabel):
    """Plain text on one line when there is room, wrapped when there is not (it never widens the card)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setTextFormat(Qt.PlainText)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:
        m = self.contentsMargins()
        width = self.fontMetrics().horizontalAdvance(self.text()) + m.left() + m.right() + 2
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:
        return QSize(min(self.sizeHint().width(), 60), super().minimumSizeHint().height())


def _tool_button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setObjectName("messageAction")
    button.setCursor(Qt.PointingHandCursor)
    button.setFocusPolicy(Qt.NoFocus)
    return button


def stats_text(m: ThreadMessage) -> str:
    parts = []
    if m.completion_tokens is not None:
        parts.append(f"{m.completion_tokens} tokens")
    if m.tokens_per_s:
        parts.append(f"{m.tokens_per_s:.1f} tok/s")
    if m.ttft_ms is not None:
        parts.append(f"first token {m.ttft_ms:.0f} ms")
    if m.finish_reason == "stopped":
        parts.append("stopped")
    elif m.finish_reason == "length":
        parts.append("hit max tokens")
    dropped = m.params.get("context_dropped") if m.params else None
    if dropped:
        parts.append(f"{len(dropped)} old message(s) left out to fit the context")
    return " · ".join(parts)


def author(m: ThreadMessage) -> str:
    """Who wrote a message: "You", or the model, with the adapter it answered through ("Model + My persona")."""
    if m.role == "user":
        return "You"
    name = m.model_name or "Assistant"
    return f"{name} + {m.adapter_name}" if m.adapter_name else name


class MessageWidget(QFrame):
    copy_requested = Signal(int)
    regenerate_requested = Signal(int)
    edit_submitted = Signal(int, str)
    sibling_requested = Signal(int)
    rating_changed = Signal(int, int)
    correction_requested = Signal(int)

    def __init__(self, message: ThreadMessage, parent: QWidget | None = None):
        super().__init__(parent)
        self.message = message
        self.setObjectName("userMessage" if message.role == "user" else "assistantMessage")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 8)
        layout.setSpacing(4)

        self.switch_note = WrappingLabel()  # "Switched to …": the model or backend changed since the previous reply
        self.switch_note.setObjectName("switchNote")
        self.switch_note.hide()
        layout.addWidget(self.switch_note)
        self.header = WrappingLabel()  # a model name with an adapter can be longer than a narrow card
        self.header.setObjectName("messageHeader")
        layout.addWidget(self.header)
        self.body = MarkdownView()
        layout.addWidget(self.body)
        self.editor: QPlainTextEdit | None = None
        self.notice = plain_label()
        self.notice.setObjectName("messageNotice")
        self.notice.setWordWrap(True)
        layout.addWidget(self.notice)

        footer = FlowLayout()  # wraps in a narrow thread instead of pushing the card under the scrollbar
        self.prev_button = _tool_button("‹", "Previous version")
        self.sibling_label = plain_label()
        self.sibling_label.setObjectName("siblingLabel")
        self.next_button = _tool_button("›", "Next version")
        self.stats = WrappingLabel()
        self.stats.setObjectName("messageStats")
        for w in (self.prev_button, self.sibling_label, self.next_button, self.stats):
            footer.addWidget(w)
        footer.add_push_right()
        self.copy_button = _tool_button("Copy", "Copy this message")
        self.actions = [self.copy_button]
        if message.role == "user":
            self.edit_button = _tool_button("Edit", "Edit and resend (the original stays as a version)")
            self.actions.append(self.edit_button)
            self.edit_button.clicked.connect(self.begin_edit)
        else:
            self.regen_button = _tool_button("Regenerate", "Write a new reply (this one stays as a version)")
            self.up_button = _tool_button("▲ Good", "Good reply")
            self.down_button = _tool_button("▼ Bad", "Bad reply")
            self.correct_button = _tool_button("Correct…", "Write the reply it should have given (used for training)")
            for b in (self.up_button, self.down_button):
                b.setCheckable(True)
            self.actions += [self.regen_button, self.up_button, self.down_button, self.correct_button]
            self.regen_button.clicked.connect(lambda: self.regenerate_requested.emit(self.message.id))
            self.up_button.clicked.connect(lambda: self._rate(1))
            self.down_button.clicked.connect(lambda: self._rate(-1))
            self.correct_button.clicked.connect(lambda: self.correction_requested.emit(self.message.id))
        for b in self.actions:
            footer.addWidget(b)
        layout.addLayout(footer)
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.prev_button.clicked.connect(lambda: self._flip(-1))
        self.next_button.clicked.connect(lambda: self._flip(1))
        self.set_message(message)

    # --- state -------------------------------------------------------------------------------------------------
    def set_switch_note(self, text: str) -> None:
        self.switch_note.setText(text)
        self.switch_note.setVisible(bool(text))

    def set_message(self, message: ThreadMessage) -> None:
        self.message = message
        self.header.setText(author(message))
        if message.role == "assistant" and message.backend:
            adapter = f" through the adapter {message.adapter_name}" if message.adapter_name else ""
            self.header.setToolTip(f"{message.model_name}{adapter}, on {message.backend}")
        if self.body.markdown != message.content:
            self.body.set_markdown(message.content)
        many = len(message.sibling_ids) > 1
        for w in (self.prev_button, self.sibling_label, self.next_button):
            w.setVisible(many)
        self.sibling_label.setText(f"{message.sibling_index + 1}/{len(message.sibling_ids)}")
        self.prev_button.setEnabled(message.sibling_index > 0)
        self.next_button.setEnabled(message.sibling_index < len(message.sibling_ids) - 1)
        self.stats.setText(stats_text(message) if message.role == "assistant" else "")
        note = STATUS_NOTES.get(message.status, "")
        if message.status == "error":
            note = f"{note}: {message.error}" if message.error else note
        if message.correction:
            note = (note + "\n" if note else "") + f"Your correction: {message.correction}"
        self.notice.setText(note)
        self.notice.setVisible(bool(note))
        if message.role == "assistant":
            streaming = message.status == "streaming"
            for b in (self.regen_button, self.up_button, self.down_button, self.correct_button, self.copy_button):
                b.setEnabled(not streaming)
            self.up_button.setChecked(message.rating == 1)
            self.down_button.setChecked(message.rating == -1)

    def append_text(self, text: str) -> None:
        self.body.set_markdown(self.body.markdown + text)

    def set_streaming_note(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    # --- actions -----------------------------------------------------------------------------------------------
    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.body.markdown)
        self.copy_requested.emit(self.message.id)

    def _flip(self, step: int) -> None:
        ids = self.message.sibling_ids
        index = self.message.sibling_index + step
        if 0 <= index < len(ids):
            self.sibling_requested.emit(ids[index])

    def _rate(self, value: int) -> None:
        new = 0 if self.message.rating == value else value
        self.rating_changed.emit(self.message.id, new)

    def begin_edit(self) -> None:
        if self.editor is not None:
            return
        self.editor = QPlainTextEdit(self.message.content)
        self.editor.setObjectName("inlineEditor")
        self.editor.setMinimumHeight(90)
        row = QHBoxLayout()
        save, cancel = QPushButton("Save && send"), QPushButton("Cancel")
        save.setObjectName("primaryButton")
        row.addStretch(1)
        row.addWidget(cancel)
        row.addWidget(save)
        self._edit_box = QWidget()
        box = QVBoxLayout(self._edit_box)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.editor)
        box.addLayout(row)
        self.layout().insertWidget(2, self._edit_box)
        self.body.hide()
        save.clicked.connect(self._submit_edit)
        cancel.clicked.connect(self.end_edit)
        self.editor.setFocus()

    def _submit_edit(self) -> None:
        text = self.editor.toPlainText() if self.editor else ""
        if text.strip():
            self.end_edit()
            self.edit_submitted.emit(self.message.id, text)

    def end_edit(self) -> None:
        if self.editor is None:
            return
        self._edit_box.deleteLater()
        self.editor = None
        self.body.show()
