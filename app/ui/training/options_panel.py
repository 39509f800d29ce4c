"""The job's options, from their declaration: the few a person decides first (what to learn from, steps and
learning rate, or "choose them from the data"), then the rest under "Advanced options", the method first.

With `fit_to_data` on, steps, learning rate and evaluation cadence show what the recipe chose for the previewed
dataset and cannot be edited; the note under them says what they were chosen for.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.core.training import recipe
from app.core.training.options import TRAINING_OPTIONS
from app.core.training.recipe import DataShape
from app.ui.option_form import OptionForm
from app.ui.plain_text import plain_label

BASIC = ("objective", "fit_to_data", "max_steps", "learning_rate", "eval_every")
FITTED = ("max_steps", "learning_rate", "eval_every")  # what the recipe chooses when fit_to_data is on
UNPREVIEWED = "Steps, learning rate and evaluation cadence are chosen from the data once it is previewed."
ADVANCED_CLOSED, ADVANCED_OPEN = "Advanced options ▸", "Advanced options ▾"


def _ordered_options():
    by_key = {o.key: o for o in TRAINING_OPTIONS}
    advanced = ("method",) + tuple(o.key for o in TRAINING_OPTIONS if o.key not in BASIC + ("method",))
    return tuple(by_key[k] for k in BASIC + advanced)


def fallback_note(shape: DataShape, options: dict) -> str:
    """What was chosen, said plainly, when the recipe gives no note of its own."""
    what = f"{shape.examples} example{'' if shape.examples == 1 else 's'}"
    if shape.pairs:
        what += f" and {shape.pairs} pair{'' if shape.pairs == 1 else 's'}"
    every = options["eval_every"]
    cadence = f"held-out loss every {every} steps" if every else "held-out loss at start and end"
    return f"Chosen for {what}: {options['max_steps']} steps, learning rate {options['learning_rate']:.0e}, {cadence}."


class JobOptionsPanel(QWidget):
    changed = Signal()  # a value a person changed (not one the recipe filled in)

    def __init__(self, method_note: str = "", parent: QWidget | None = None):
        """`method_note`: which method this machine runs well, shown under the method."""
        super().__init__(parent)
        self.form = OptionForm(_ordered_options())
        self.form.changed.connect(self._on_changed)
        rows: QFormLayout = self.form.layout()
        self.fit_to_data: QCheckBox = self.form.editors["fit_to_data"]
        self._span_checkbox(rows, "fit_to_data")
        self.recipe_note = plain_label(UNPREVIEWED)
        self.recipe_note.setObjectName("hint")
        self.recipe_note.setWordWrap(True)
        rows.insertRow(self._row_of(rows, "eval_every") + 1, self.recipe_note)
        self.advanced_button = QPushButton(ADVANCED_CLOSED)
        self.advanced_button.setObjectName("linkButton")
        self.advanced_button.setFlat(True)
        self.advanced_button.setCheckable(True)
        self.advanced_button.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)  # left, not across the row
        self.advanced_button.toggled.connect(self.show_advanced)
        rows.insertRow(self._row_of(rows, "eval_every") + 2, self.advanced_button)
        self.method_note = plain_label(method_note)
        self.method_note.setObjectName("hint")
        self.method_note.setWordWrap(True)
        rows.insertRow(self._row_of(rows, "method") + 1, self.method_note)
        self.advanced_rows = [self.form.editors[o.key] for o in TRAINING_OPTIONS if o.key not in BASIC]
        self.advanced_rows.append(self.method_note)
        self.chosen: dict[str, Any] | None = None  # the recipe's options for the current preview
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.form)
        layout.addStretch(1)
        self.show_advanced(False)
        self._lock_fitted()

    # -- layout -----------------------------------------------------------------------------------------------
    def _row_of(self, rows: QFormLayout, key: str) -> int:
        row, _role = rows.getWidgetPosition(self.form.editors[key])
        return row

    def _span_checkbox(self, rows: QFormLayout, key: str) -> None:
        """A long checkbox label reads as the checkbox's own text across the row, not as a wide label column."""
        row = self._row_of(rows, key)
        box = self.form.editors[key]
        label = rows.itemAt(row, QFormLayout.LabelRole).widget()
        box.setText(label.text())
        rows.takeRow(row)  # removeRow would delete the editor too
        label.hide()
        label.deleteLater()
        rows.insertRow(row, box)

    def show_advanced(self, shown: bool) -> None:
        rows: QFormLayout = self.form.layout()
        for widget in self.advanced_rows:
            rows.setRowVisible(widget, shown)
        self.advanced_button.setText(ADVANCED_OPEN if shown else ADVANCED_CLOSED)
        if self.advanced_button.isChecked() != shown:
            self.advanced_button.setChecked(shown)

    # -- values -----------------------------------------------------------------------------------------------
    def fitting(self) -> bool:
        return self.fit_to_data.isChecked()

    def given(self) -> dict[str, Any]:
        """The options a person set: those that differ from their defaults. With fit_to_data on, steps, learning rate
        and cadence are left to the recipe (create_job chooses them; given keys win over it, and so does a changed
        number of epochs, which keeps the steps to the epochs)."""
        defaults = {o.key: o.default for o in TRAINING_OPTIONS}
        values = {k: v for k, v in self.form.values().items() if v != defaults[k]}
        if self.fitting():
            for key in FITTED:
                values.pop(key, None)
        return values

    def fit(self, shape: DataShape | None, model_params: int | None) -> dict[str, Any]:
        """Show what the recipe chooses for this data (or that it waits for a preview); returns the options the job
        would run with, for the estimate."""
        self._lock_fitted()
        if not self.fitting():
            self.chosen = None
            self.recipe_note.hide()
            return self.form.values()
        self.recipe_note.show()
        if shape is None:
            self.chosen = None
            self.recipe_note.setText(UNPREVIEWED)
            return self.form.values()
        options, note = recipe.apply(self.given(), shape, model_params)
        for key in FITTED:
            self.form.set_value(key, options[key])
        self.chosen = options
        self.recipe_note.setText(note or fallback_note(shape, options))
        return {**self.form.values(), **{k: options[k] for k in FITTED}}

    def _lock_fitted(self) -> None:
        fitting = self.fitting()
        for key in FITTED:
            editor = self.form.editors[key]
            editor.setEnabled(not fitting)
            editor.setToolTip(next(o.help for o in TRAINING_OPTIONS if o.key == key)
                              + ("\nChosen from the data: turn off “Choose steps and learning rate from the data” "
                                 "to set it yourself." if fitting else ""))
        uses_preferences = self.form.values()["objective"] != "sft"
        self.form.editors["preference_beta"].setEnabled(uses_preferences)

    def _on_changed(self) -> None:
        self._lock_fitted()
        self.changed.emit()
