"""One preference pair at a time: the prompt above, the preferred and the less preferred reply side by side, and
‹ › to step through the pairs the preview found."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.core.training.preferences import PreferencePair
from app.ui.plain_text import plain_label

PROMPT_CHARS = 280  # longer prompts are cut here (the whole one is in the tooltip)
NO_PAIRS = ("No preference pairs yet. Regenerate a reply in Chat and rate the versions (▲ one, ▼ another), or "
            "correct a reply: each gives a pair.")


def prompt_text(pair: PreferencePair) -> str:
    """The last user message, which is what a person recognises the pair by."""
    return next((t.content for t in reversed(pair.prompt) if t.role == "user"), "")


def context_note(pair: PreferencePair) -> str:
    """How much dialogue came before the last user message (the model saw it too)."""
    last_user = max((i for i, t in enumerate(pair.prompt) if t.role == "user"), default=0)
    earlier = sum(1 for t in pair.prompt[:last_user] if t.role != "system")
    return f"after {earlier} earlier message{'' if earlier == 1 else 's'}" if earlier else ""


def _reply_box(name: str) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setReadOnly(True)
    box.setObjectName(name)
    box.setMinimumHeight(40)  # two lines: the page must fit a 1024x680 screen
    return box


class PairView(QWidget):
    pair_shown = Signal(int)  # index of the pair now shown

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.pairs: list[PreferencePair] = []
        self.held_out: list[bool] = []
        self.index = 0
        self.previous_button, self.next_button = QPushButton("‹"), QPushButton("›")
        for button, step, tip in ((self.previous_button, -1, "Previous pair"), (self.next_button, 1, "Next pair")):
            button.setFixedWidth(36)
            font = button.font()
            font.setPointSizeF(font.pointSizeF() * 1.4)  # the chevrons are small in most fonts
            button.setFont(font)
            button.setToolTip(tip)
            button.clicked.connect(lambda _checked=False, step=step: self.show_pair(self.index + step))
        self.position = plain_label("")
        self.position.setObjectName("hint")
        self.position.setWordWrap(True)
        self.prompt = plain_label("")  # a line or two: the replies below get the room
        self.prompt.setObjectName("pairPrompt")
        self.prompt.setWordWrap(True)
        self.prompt.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.chosen = _reply_box("preferredReply")
        self.rejected = _reply_box("lessPreferredReply")
        self.empty = plain_label(NO_PAIRS)
        self.empty.setObjectName("hint")
        self.empty.setWordWrap(True)

        stepper = QHBoxLayout()
        stepper.addWidget(self.previous_button)
        stepper.addWidget(self.position, 1)
        stepper.addWidget(self.next_button)
        columns = QGridLayout()
        columns.setHorizontalSpacing(8)
        columns.setVerticalSpacing(2)
        self.chosen_label, self.rejected_label = plain_label("▲ Preferred"), plain_label("▼ Less preferred")
        columns.addWidget(self.chosen_label, 0, 0)
        columns.addWidget(self.rejected_label, 0, 1)
        columns.addWidget(self.chosen, 1, 0)
        columns.addWidget(self.rejected, 1, 1)
        columns.setColumnStretch(0, 1)
        columns.setColumnStretch(1, 1)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(2)
        body.addLayout(stepper)
        body.addWidget(self.prompt)
        body.addLayout(columns, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.empty)
        layout.addWidget(self.body, 1)
        self.set_pairs([])

    def set_pairs(self, pairs: list[PreferencePair], held_out: list[bool] | None = None) -> None:
        """`held_out`: per pair, whether it is kept out of training (the adapter's preference accuracy is measured
        on those)."""
        self.pairs = list(pairs)
        self.held_out = list(held_out) if held_out is not None else [False] * len(self.pairs)
        self.empty.setVisible(not self.pairs)
        self.body.setVisible(bool(self.pairs))
        self.show_pair(0)

    def show_pair(self, index: int) -> None:
        if not self.pairs:
            self.index = 0
            for widget in (self.prompt, self.chosen, self.rejected):
                widget.clear()
            return
        self.index = max(0, min(index, len(self.pairs) - 1))
        pair = self.pairs[self.index]
        note = context_note(pair)
        held = " · held out to measure the adapter" if self.held_out[self.index] else ""
        self.position.setText(f"Pair {self.index + 1} of {len(self.pairs)} · {pair.origin}{held}")
        self.position.setToolTip(pair.origin)
        text = prompt_text(pair)
        shown = text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1].rstrip() + "…"
        self.prompt.setText(f"Prompt{f' ({note})' if note else ''}: {shown}")
        self.prompt.setToolTip(text)
        self.chosen.setPlainText(pair.chosen)
        self.rejected.setPlainText(pair.rejected)
        self.previous_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.pairs) - 1)
        self.pair_shown.emit(self.index)

    def current(self) -> PreferencePair | None:
        return self.pairs[self.index] if self.pairs else None

