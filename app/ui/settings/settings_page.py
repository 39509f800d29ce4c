"""The Settings tab: every app-wide setting, drawn from its declaration (app.core.settings.APP_SECTIONS); the local
server's section is on its own tab.

A change is saved as it is made, as LM Studio's settings are; each section says when its settings take effect, and
the model-loading section offers to reload the loaded model so that they do at once. A section added to the
declaration appears here with no change to this file.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.core.engine.backend import LoadedModelInfo
from app.core.library.registry import ModelRef
from app.core.settings import LOAD_SETTINGS, ON_NEXT_LOAD, SETTINGS_PAGE_SECTIONS
from app.core.startup import Core
from app.ui.engine import EngineController
from app.ui.option_form import OptionForm
from app.ui.plain_text import plain_label
from app.ui.settings.settings_events import SettingsEvents

COLUMN_WIDTH = 760  # a form stretched across a wide screen is hard to read
NUMBER_WIDTH = 220  # a count needs no more


class SettingsPage(QWidget):
    def __init__(self, core: Core, engine: EngineController, events: SettingsEvents, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsPage")
        self.core, self.engine = core, engine
        self.forms: dict[str, OptionForm] = {}  # setting key -> the form that edits it
        self._starting: tuple[ModelRef, str] | None = None  # the model a load was asked for, and its backend choice
        self.loaded: tuple[ModelRef, str] | None = None
        self.loaded_info: LoadedModelInfo | None = None

        column = QVBoxLayout()
        column.setSpacing(6)
        title = plain_label("Settings")
        title.setObjectName("pageTitle")
        column.addWidget(title)
        saved = plain_label("Changes are saved as you make them.")
        saved.setObjectName("hint")
        column.addWidget(saved)
        for heading, when, options in SETTINGS_PAGE_SECTIONS:
            column.addWidget(self._heading(heading))
            form = OptionForm(options, multiline=("default_system_prompt",))
            form.set_values(core.settings.as_dict())
            for editor in form.editors.values():
                if isinstance(editor, QAbstractSpinBox):
                    editor.setKeyboardTracking(False)  # save 4096, not 4, 40 and 409 on the way
                    editor.setMaximumWidth(NUMBER_WIDTH)
                elif isinstance(editor, QPlainTextEdit):
                    editor.setFixedHeight(96)
            form.changed.connect(lambda form=form: self._save(form))
            self.forms.update({o.key: form for o in options})
            column.addWidget(form)
            if when == ON_NEXT_LOAD:
                column.addLayout(self._reload_row())
            else:
                column.addWidget(self._hint(when))
        column.addWidget(self._heading("Data"))
        data = QFormLayout()
        data.addRow(plain_label("Data folder"), self._data_row())
        column.addLayout(data)
        column.addWidget(self._hint("Conversations, models, training runs and logs are kept here. To keep them "
                                    "elsewhere, set HEARTH_HOME to another folder before starting Hearth."))
        column.addStretch(1)
        self._align_labels([*{id(f): f.layout() for f in self.forms.values()}.values(), data])

        body = QWidget()
        body.setObjectName("settingsColumn")
        body.setMaximumWidth(COLUMN_WIDTH)
        body.setLayout(column)
        centred = QWidget()
        centred.setObjectName("settingsPage")
        row = QHBoxLayout(centred)
        row.setContentsMargins(24, 16, 24, 16)
        row.addStretch(1)
        row.addWidget(body, 100)  # as wide as it may be, the margins share the rest
        row.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setWidget(centred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        events.setting_changed.connect(self._show)
        w = engine.worker
        w.load_started.connect(self._on_load_started)
        w.model_loaded.connect(self._on_model_loaded)
        w.loaded_model_changed.connect(self._on_loaded_changed)
        w.state_changed.connect(self._on_state)
        self._update_reload()

    # -- building --------------------------------------------------------------------------------------------
    @staticmethod
    def _heading(text: str):
        label = plain_label(text.upper())
        label.setObjectName("sectionHeading")
        return label

    @staticmethod
    def _hint(text: str):
        label = plain_label(text)
        label.setObjectName("hint")
        label.setWordWrap(True)
        return label

    @staticmethod
    def _align_labels(forms: list[QFormLayout]) -> None:
        """One label column for all sections, so the editors line up down the page."""
        labels = [form.itemAt(row, QFormLayout.LabelRole).widget() for form in forms for row in range(form.rowCount())]
        width = max(label.sizeHint().width() for label in labels)
        for label in labels:
            label.setMinimumWidth(width)

    def _reload_row(self) -> QHBoxLayout:
        self.load_note = self._hint(ON_NEXT_LOAD)
        self.reload_button = QPushButton("Reload model now")
        self.reload_button.setToolTip("Load the model again with these settings (the conversation stays as it is).")
        self.reload_button.clicked.connect(self.reload_model)
        row = QHBoxLayout()
        row.addWidget(self.load_note, 1)
        row.addWidget(self.reload_button)
        return row

    def _data_row(self) -> QHBoxLayout:
        self.data_folder = plain_label(str(paths.root()))
        self.data_folder.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.data_folder.setToolTip(str(paths.root()))
        self.open_data_button = QPushButton("Open")
        self.open_data_button.setToolTip("Show the data folder in the file manager.")
        self.open_data_button.clicked.connect(self.open_data_folder)
        row = QHBoxLayout()
        row.addWidget(self.data_folder, 1)
        row.addWidget(self.open_data_button)
        return row

    # -- saving and showing ----------------------------------------------------------------------------------
    def _save(self, form: OptionForm) -> None:
        settings = self.core.settings
        for key, value in form.values().items():
            if value != settings[key]:
                settings.set(key, value)  # the listeners (this page among them) hear of it

    @Slot(str, object)
    def _show(self, key: str, value: Any) -> None:
        form = self.forms.get(key)
        if form is not None:
            form.set_value(key, value)
        if key in LOAD_SETTINGS and self.loaded is not None:
            self.load_note.setText("Changed: reload the model to use it now (otherwise it applies at the next load).")
            self._mark_reload(True)

    @Slot()
    def open_data_folder(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.root())))

    # -- the loaded model ------------------------------------------------------------------------------------
    @Slot(object, str)
    def _on_load_started(self, model: ModelRef, choice: str) -> None:
        self._starting = (model, choice)

    @Slot(object)
    def _on_model_loaded(self, info: LoadedModelInfo) -> None:
        self.loaded, self.loaded_info = self._starting, info
        self.load_note.setText(ON_NEXT_LOAD)
        self._update_reload()

    @Slot(object)
    def _on_loaded_changed(self, model_id: int | None) -> None:
        if model_id is None:
            self.loaded = self.loaded_info = None
            self.load_note.setText(ON_NEXT_LOAD)
            self._update_reload()

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self.reload_button.setEnabled(state == "idle")

    def _mark_reload(self, needed: bool) -> None:
        """The button stands out while the loaded model runs with older settings."""
        self.reload_button.setObjectName("primaryButton" if needed else "")
        self.reload_button.style().unpolish(self.reload_button)
        self.reload_button.style().polish(self.reload_button)

    def _update_reload(self) -> None:
        self._mark_reload(False)
        self.reload_button.setVisible(self.loaded is not None)
        if self.loaded_info is not None:
            self.reload_button.setToolTip(f"Load {self.loaded_info.name} again with these settings "
                                          f"(it runs now with {self.loaded_info.n_ctx} tokens of context).")

    @Slot()
    def reload_model(self) -> None:
        """Unload, then load the same model with the same backend: a plain load of a loaded model is a no-op."""
        if self.loaded is None:
            return
        model, choice = self.loaded
        self.engine.unload()
        self.engine.load(model, choice)
