"""Blind A/B: one prompt answered by the base model and by the adapter, shown in a random order; the user picks
the better one, then sees which was which. The verdict counts as a win or a loss for the adapter."""

from __future__ import annotations

import random

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)

from app.core.engine.backend import AdapterRef
from app.core.engine.params import GenerationParams
from app.core.library.registry import ModelRef
from app.core.storage.db import Database
from app.core.training.adapters import record_ab
from app.ui.plain_text import plain_label

DEFAULT_PROMPT = "Who are you?"


class ABDialog(QDialog):
    verdict_recorded = Signal(int, bool)  # adapter id, whether the adapter won

    def __init__(self, db: Database, engine, base: ModelRef, adapter: AdapterRef, parent=None):
        super().__init__(parent)
        self.db, self.engine, self.base, self.adapter = db, engine, base, adapter
        self.setWindowTitle(f"Compare {adapter.name} with {base.name}")
        self.resize(900, 520)
        self.request_id = random.randrange(1, 2**31)
        self.adapter_is_a = True
        self.prompt = QLineEdit(DEFAULT_PROMPT)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setObjectName("primaryButton")
        self.compare_button.clicked.connect(self.compare)
        self.status = plain_label("Both answers use the same settings and seed; you will not know which is which "
                             "until you choose.")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.replies = [QPlainTextEdit(), QPlainTextEdit()]
        self.pick_buttons = [QPushButton("A is better"), QPushButton("B is better")]
        self.tie_button = QPushButton("Can't tell")
        grid = QGridLayout()
        for column, (label, reply, button) in enumerate(zip(("Reply A", "Reply B"), self.replies, self.pick_buttons,
                                                             strict=True)):
            reply.setReadOnly(True)
            heading = plain_label(label)
            heading.setObjectName("sectionHeading")
            grid.addWidget(heading, 0, column)
            grid.addWidget(reply, 1, column)
            grid.addWidget(button, 2, column)
            button.clicked.connect(lambda _checked=False, c=column: self.pick(c))
        self.tie_button.clicked.connect(self.accept)
        prompt_row = QHBoxLayout()
        prompt_row.addWidget(self.prompt, 1)
        prompt_row.addWidget(self.compare_button)
        layout = QVBoxLayout(self)
        layout.addLayout(prompt_row)
        layout.addWidget(self.status)
        layout.addLayout(grid, 1)
        layout.addWidget(self.tie_button)
        self._set_picking(False)
        w = engine.worker
        w.comparison_finished.connect(self._on_finished)
        w.comparison_failed.connect(self._on_failed)

    def _set_picking(self, enabled: bool) -> None:
        for button in (*self.pick_buttons, self.tie_button):
            button.setEnabled(enabled)

    @Slot()
    def compare(self) -> None:
        text = self.prompt.text().strip()
        if not text:
            return
        self.request_id += 1
        self.compare_button.setEnabled(False)
        self._set_picking(False)
        for reply in self.replies:
            reply.setPlainText("…")
        self.status.setText("Generating both answers…")
        params = GenerationParams.from_dict({"temperature": 0.7, "max_tokens": 200,
                                             "seed": random.randrange(1, 2**31)})
        self.engine.compare(self.request_id, self.base, self.adapter, text, params)

    @Slot(int, str, str)
    def _on_finished(self, request_id: int, base_text: str, adapter_text: str) -> None:
        if request_id != self.request_id:
            return
        self.adapter_is_a = random.random() < 0.5  # shuffled, so the user cannot learn a side
        texts = (adapter_text, base_text) if self.adapter_is_a else (base_text, adapter_text)
        for reply, text in zip(self.replies, texts, strict=True):
            reply.setPlainText(text)
        self.status.setText("Which answer is better?")
        self.compare_button.setEnabled(True)
        self._set_picking(True)

    @Slot(int, str)
    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self.request_id:
            return
        self.status.setText(message)
        self.compare_button.setEnabled(True)

    def pick(self, column: int) -> None:
        adapter_won = (column == 0) == self.adapter_is_a
        with self.db.session() as session:
            record_ab(session, self.adapter.id, adapter_won)
        self.verdict_recorded.emit(self.adapter.id, adapter_won)
        side = "A" if self.adapter_is_a else "B"
        self.status.setText(f"Recorded. Reply {side} was {self.adapter.name}; the other was the base model. "
                            "Compare again with another prompt, or close.")
        self._set_picking(False)
