"""Builds an editing form from declared Options (app.core.options), so each setting is described only once."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from app.core.options import Option
from app.ui.plain_text import plain_label


class OptionForm(QWidget):
    changed = Signal()

    def __init__(self, options: tuple[Option, ...], parent: QWidget | None = None, *,
                 multiline: tuple[str, ...] = ()):
        """`multiline`: keys of text options edited in a box of several lines (a system prompt)."""
        super().__init__(parent)
        self.options = options
        self.multiline = multiline
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(6)
        for option in options:
            editor = self._editor(option)
            editor.setToolTip(option.help)
            editor.setMinimumWidth(80)
            editor.setSizePolicy(QSizePolicy.Ignored, editor.sizePolicy().verticalPolicy())
            self.editors[option.key] = editor
            layout.addRow(plain_label(option.label), editor)
        self.set_values({o.key: o.default for o in options})

    def _editor(self, option: Option) -> QWidget:
        if option.kind is int:
            box = QSpinBox()
            box.setRange(int(option.minimum if option.minimum is not None else -(2**31)), int(option.maximum if option.maximum is not None else 2**31 - 1))
            box.setSingleStep(int(option.step or 1))
            box.valueChanged.connect(self.changed)
            return box
        if option.kind is float:
            box = QDoubleSpinBox()
            box.setDecimals(option.decimals)
            box.setRange(option.minimum if option.minimum is not None else -1e9, option.maximum if option.maximum is not None else 1e9)
            box.setSingleStep(option.step or 0.1)
            box.valueChanged.connect(self.changed)
            return box
        if option.kind is bool:
            box = QCheckBox()
            box.toggled.connect(self.changed)
            return box
        if option.choices:
            combo = QComboBox()
            for value, label in option.choices:
                combo.addItem(label, value)
            combo.currentIndexChanged.connect(self.changed)
            return combo
        if option.kind is list or option.key in self.multiline:
            edit = QPlainTextEdit()
            edit.setFixedHeight(52)
            edit.textChanged.connect(self.changed)
            return edit
        edit = QLineEdit()
        edit.textChanged.connect(self.changed)
        return edit

    def set_values(self, values: dict[str, Any]) -> None:
        """Show these values; an option missing from `values` shows its default. Emits no `changed`."""
        for option in self.options:
            self.set_value(option.key, values.get(option.key, option.default))

    def set_value(self, key: str, value: Any) -> None:
        """Show one option's value, leaving the others as they are (and the cursor where it is when the editor
        already shows it). Emits no `changed`."""
        option, editor = next(o for o in self.options if o.key == key), self.editors[key]
        was_blocked = self.blockSignals(True)
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(0, editor.findData(value)))
        elif isinstance(editor, QPlainTextEdit):
            text = "\n".join(value) if option.kind is list else str(value)
            if editor.toPlainText() != text:
                editor.setPlainText(text)
        elif editor.text() != str(value):
            editor.setText(str(value))
        self.blockSignals(was_blocked)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for option in self.options:
            editor = self.editors[option.key]
            if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                raw = editor.value()
            elif isinstance(editor, QCheckBox):
                raw = editor.isChecked()
            elif isinstance(editor, QComboBox):
                raw = editor.currentData()
            elif isinstance(editor, QPlainTextEdit):
                raw = editor.toPlainText()
            else:
                raw = editor.text()
            try:
                out[option.key] = option.coerce(raw)
            except ValueError:  # an editor with nothing chosen yet (an empty list of choices): the default holds
                out[option.key] = option.default
        return out
