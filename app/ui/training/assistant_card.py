"""The Training tab's Adapters page: the assistants on the left, and the selected one's card on the right with its
versions (v3, v2, v1), each with its eval loss, preference accuracy and A/B record and a Use button, so rolling
back to an older version is one click. The buttons under the list act on the selected version."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.storage.db import Database
from app.ui.plain_text import plain_label
from app.ui.tables import row_table
from app.ui.training.button_delegate import ButtonDelegate
from app.ui.training.training_models import VersionsModel

LIST_WIDTH = 200  # room for an assistant's name at 1024 px; the card keeps the rest

NO_ADAPTERS = "No adapters yet: every finished job leaves one here. Train one on the New job page."
SELECT = "Select an adapter version to compare it with its base model (A/B), export or remove it."
SELECTED = ("“Use” answers the conversation on screen through that version (Remove there goes back to the base "
            "model). Double-click the notes to edit them.")


class AssistantsPage(QWidget):
    use_requested = Signal(int)  # adapter id
    ab_requested = Signal(int)
    export_requested = Signal(int)
    remove_requested = Signal(int)

    def __init__(self, db: Database, parent: QWidget | None = None):
        super().__init__(parent)
        self.versions = VersionsModel(db, self)
        self.assistants = self.versions.assistants

        self.assistants_view = row_table(self.assistants)  # one column, the look of every list here
        self.assistants_view.setObjectName("assistantList")
        self.assistants_view.setWordWrap(True)
        self.assistants_view.setTextElideMode(Qt.ElideRight)
        self.assistants_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.assistants_view.setFixedWidth(LIST_WIDTH)
        self.assistants_view.selectionModel().currentRowChanged.connect(self._assistant_picked)

        self.title = plain_label("")
        self.title.setObjectName("detailsTitle")
        self.facts = plain_label("")
        self.facts.setObjectName("hint")
        self.facts.setWordWrap(True)
        self.view = row_table(self.versions)
        self.view.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        self.use_delegate = ButtonDelegate(self.view)
        self.view.setItemDelegateForColumn(VersionsModel.USE, self.use_delegate)
        self.use_delegate.clicked.connect(lambda index: self.use_requested.emit(self.versions.row_at(index.row()).id))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(VersionsModel.VERSION, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(VersionsModel.COLUMNS.index("Notes"), QHeaderView.Stretch)
        header.setSectionResizeMode(VersionsModel.USE, QHeaderView.ResizeToContents)
        self.view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)

        use, compare, export, remove = (QPushButton("Use in chat"), QPushButton("A/B test…"), QPushButton("Export…"),
                                        QPushButton("Remove"))
        use.setObjectName("primaryButton")
        compare.setToolTip("Send one prompt to the base model and to this version; pick the better answer blind.")
        export.setToolTip("Merge the version into a copy of its base model (GGUF or safetensors) for other apps.")
        remove.setToolTip("Forget this version; its files stay in the job's run folder.")
        for button, signal in ((use, self.use_requested), (compare, self.ab_requested),
                               (export, self.export_requested), (remove, self.remove_requested)):
            button.clicked.connect(lambda _checked=False, signal=signal: self._act(signal))
        self.buttons = (use, compare, export, remove)
        self.hint = plain_label("")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.hint, 1)
        for button in self.buttons:
            buttons.addWidget(button)

        card = QFrame()
        card.setObjectName("assistantCard")
        right = QVBoxLayout(card)
        right.setContentsMargins(14, 10, 14, 10)
        right.addWidget(self.title)
        right.addWidget(self.facts)
        right.addWidget(self.view, 1)
        right.addLayout(buttons)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 12, 8)
        layout.setSpacing(14)
        layout.addWidget(self.assistants_view)
        layout.addWidget(card, 1)
        self.versions.modelReset.connect(self._versions_shown)
        self.versions.dataChanged.connect(lambda *_: self._show_facts())
        self.view.selectionModel().selectionChanged.connect(lambda *_: self.update_buttons())
        self._versions_shown()

    def refresh(self) -> None:
        self.versions.refresh()

    def selected_id(self) -> int | None:
        if not self.view.selectionModel().hasSelection():
            return None
        version = self.versions.row_at(self.view.currentIndex().row())
        return version.id if version else None

    def _act(self, signal) -> None:
        adapter_id = self.selected_id()
        if adapter_id is not None:
            signal.emit(adapter_id)

    @Slot(QModelIndex, QModelIndex)
    def _assistant_picked(self, current: QModelIndex, _previous: QModelIndex) -> None:
        assistant = self.assistants.row_at(current.row())
        self.versions.show_assistant(assistant.name if assistant else None)

    def _versions_shown(self) -> None:
        """After a refresh or another assistant picked: the list marks the one shown, the card says what it holds."""
        row = self.assistants.row_of_name(self.versions.assistant)
        selection = self.assistants_view.selectionModel()
        if row >= 0 and self.assistants_view.currentIndex().row() != row:
            selection.blockSignals(True)
            selection.setCurrentIndex(self.assistants.index(row), QItemSelectionModel.ClearAndSelect)
            selection.blockSignals(False)
            self.assistants_view.viewport().update()
        self._show_facts()
        self.update_buttons()

    def _show_facts(self) -> None:
        rows = [self.versions.row_at(i) for i in range(self.versions.rowCount())]
        if not rows:
            self.title.setText("No assistant yet")
            self.facts.setText("Each job trains a version of an assistant; its versions are listed here to compare, "
                               "use, or roll back to.")
            return
        latest = rows[0]
        self.title.setText(latest.assistant)
        count = len(rows)
        text = f"{count} version{'s' if count > 1 else ''} on {latest.base_name}."
        using = next((v for v in rows if v.name == self.versions.in_use), None)
        if using is not None:
            text += f" The conversation on screen answers through v{using.number}."
            if using is not latest:
                text += f" v{latest.number} is newer: press its Use to move to it."
        elif count > 1:
            text += " Use picks a version for the conversation on screen; an older one is a roll-back."
        self.facts.setText(text)

    def update_buttons(self) -> None:
        """Use, A/B, Export and Remove act on the selected version: enabled only while one is selected."""
        selected = self.selected_id() is not None
        for button in self.buttons:
            button.setEnabled(selected)
        if not self.versions.rowCount():
            self.hint.setText(NO_ADAPTERS)
        else:
            self.hint.setText(SELECTED if selected else SELECT)
