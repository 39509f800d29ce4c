"""Recently deleted, in the chat sidebar: the deleted conversations as a list model, and the panel that lists them
with Restore and Delete now. What is kept and for how long is core's rule (storage.recently_deleted)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QListView, QPushButton, QVBoxLayout, QWidget

from app.core.storage import recently_deleted
from app.core.storage.db import Database
from app.ui.chat.conversation_model import ID_ROLE, SNIPPET_ROLE
from app.ui.plain_text import confirm, plain_label, warn
from app.ui.row_model import RowListModel


def _days_left(days: int) -> str:
    if days <= 0:
        return "removed at the next start"
    return "1 day left" if days == 1 else f"{days} days left"


class RecentlyDeletedModel(RowListModel):
    """Deleted conversations, the most recently deleted first."""

    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db

    def refresh(self) -> None:
        with self.db.session() as session:
            rows = recently_deleted.list_deleted(session)
        self.set_rows(rows)

    def restore(self, conversation_id: int) -> None:
        with self.db.session() as session:
            recently_deleted.restore(session, conversation_id)
        self.refresh()

    def delete_now(self, conversation_id: int) -> None:
        """Remove it for good; raises recently_deleted.ConversationBusyError while a reply in it is being written."""
        with self.db.session() as session:
            recently_deleted.delete_for_good(session, conversation_id)
        self.refresh()

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return row.title
        if role == ID_ROLE:
            return row.id
        if role == SNIPPET_ROLE:
            # what matters first, so a narrow sidebar cuts the date rather than the days left
            return f"{_days_left(row.days_left)} · deleted {row.deleted_at.day} {row.deleted_at:%b}"
        if role == Qt.ToolTipRole:
            return f"{row.title}\nDeleted {row.deleted_at:%d %b %Y %H:%M} UTC · {_days_left(row.days_left)}"
        return None


class RecentlyDeletedPanel(QWidget):
    """The sidebar's second page. Its signals tell the sidebar what the user did here."""

    restored = Signal(int)  # back in the list
    deleted_for_good = Signal(int)

    def __init__(self, model: RecentlyDeletedModel, delegate_class, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        heading = plain_label("RECENTLY DELETED")
        heading.setObjectName("sectionHeading")
        layout.addWidget(heading)
        self.hint = plain_label(
            f"Deleted chats wait here for {recently_deleted.RECENTLY_DELETED_DAYS} days, then go for good."
        )
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        layout.addWidget(self.hint)
        self.view = QListView()
        self.view.setObjectName("conversationList")
        self.view.setModel(model)
        self.view.setItemDelegate(delegate_class(self.view))
        self.view.setMouseTracking(True)
        self.view.setUniformItemSizes(True)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        layout.addWidget(self.view, 1)
        self.empty_hint = plain_label("Nothing here.")
        self.empty_hint.setObjectName("hint")
        self.empty_hint.setAlignment(Qt.AlignCenter)
        layout.addWidget(self.empty_hint)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.restore_button = QPushButton("Restore")
        self.delete_button = QPushButton("Delete now")
        self.restore_button.setToolTip("Put the selected chat back in the list")
        self.delete_button.setToolTip("Remove the selected chat for good; this cannot be undone")
        buttons.addWidget(self.restore_button, 1)
        buttons.addWidget(self.delete_button, 1)
        layout.addLayout(buttons)

        self.restore_button.clicked.connect(lambda: self._act_on_selection(self.restore))
        self.delete_button.clicked.connect(lambda: self._act_on_selection(self.ask_delete_now))
        self.view.doubleClicked.connect(lambda index: self.restore(index.data(ID_ROLE)))
        model.modelReset.connect(self._update_buttons)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self._update_buttons()

    def selected_id(self) -> int | None:
        index = self.view.currentIndex()
        return index.data(ID_ROLE) if index.isValid() and self.view.selectionModel().isSelected(index) else None

    def select(self, conversation_id: int) -> None:
        row = self.model.row_of(conversation_id)
        if row >= 0:
            self.view.setCurrentIndex(self.model.index(row))

    def _update_buttons(self) -> None:
        has_rows = self.model.rowCount() > 0
        self.empty_hint.setVisible(not has_rows)
        self.view.setVisible(has_rows)
        chosen = self.selected_id() is not None
        self.restore_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    def _act_on_selection(self, action) -> None:
        conversation_id = self.selected_id()
        if conversation_id is not None:
            action(conversation_id)

    def restore(self, conversation_id: int | None) -> None:
        if conversation_id is None:
            return
        self.model.restore(conversation_id)
        self.restored.emit(conversation_id)

    def ask_delete_now(self, conversation_id: int) -> None:
        row = self.model.row_at(self.model.row_of(conversation_id))
        title = row.title if row is not None else "this chat"
        if confirm(self, "Delete for good", f"Delete “{title}” for good? This cannot be undone."):
            self.delete_now(conversation_id)

    def delete_now(self, conversation_id: int) -> None:
        try:
            self.model.delete_now(conversation_id)
        except recently_deleted.ConversationBusyError as exc:
            warn(self, "Not deleted yet", str(exc))
            return
        self.deleted_for_good.emit(conversation_id)
