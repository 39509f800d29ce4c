"""Conversations as a Qt list model (newest first), filtered by full-text search; deleted ones are not listed."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import QModelIndex, Qt

from app.core.storage import conversations as convs
from app.core.storage.db import Database
from app.core.storage.models import utcnow
from app.ui.row_model import RowListModel

ID_ROLE = Qt.UserRole + 1
SNIPPET_ROLE = Qt.UserRole + 2


def _when(value: datetime) -> str:
    now = utcnow()
    if value.date() == now.date():
        return value.strftime("%H:%M UTC")
    return value.strftime("%d %b %Y")


class ConversationListModel(RowListModel):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.query = ""

    def refresh(self, query: str | None = None) -> None:
        if query is not None:
            self.query = query
        with self.db.session() as session:
            rows = convs.search_conversations(session, self.query) if self.query.strip() else convs.list_conversations(session)
        self.set_rows(rows)

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

    def id_at(self, row: int) -> int | None:
        found = self.row_at(row)
        return found.id if found else None
