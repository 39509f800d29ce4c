"""Conversations as a Qt list model (newest first), filtered by full-text search."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.core.storage import conversations as convs
from app.core.storage.conversations import ConversationSummary
from app.core.storage.db import Database

ID_ROLE = Qt.UserRole + 1
SNIPPET_ROLE = Qt.UserRole + 2


def _when(value: datetime) -> str:
    now = datetime.utcnow()
    if value.date() == now.date():
        return value.strftime("%H:%M UTC")
    return value.strftime("%d %b %Y")


class ConversationListModel(QAbstractListModel):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.query = ""
        self.hidden: set[int] = set()  # deleted but still undoable
        self._rows: list[ConversationSummary] = []

    def refresh(self, query: str | None = None) -> None:
        if query is not None:
            self.query = query
        with self.db.session() as session:
            rows = convs.search_conversations(session, self.query) if self.query.strip() else convs.list_conversations(session)
        self.beginResetModel()
        self._rows = [r for r in rows if r.id not in self.hidden]
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return row.title
        if role == Qt.ToolTipRole:
            return f"{row.title}\n{_when(row.updated_at)}" + (f"\n…{row.snippet}…" if row.snippet else "")
        if role == ID_ROLE:
            return row.id
        if role == SNIPPET_ROLE:
            return row.snippet or _when(row.updated_at)
        return None

    def row_of(self, conversation_id: int) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == conversation_id), -1)

    def id_at(self, row: int) -> int | None:
        return self._rows[row].id if 0 <= row < len(self._rows) else None
