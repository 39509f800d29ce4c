"""Registered models as a Qt list model (feeds the chat's model picker)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from app.core.library.registry import ModelRef, list_models
from app.core.storage.db import Database
from app.core.units import format_bytes
from app.ui.row_model import RowListModel

MODEL_ID_ROLE = Qt.UserRole + 1


class ModelListModel(RowListModel):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self.refresh()

    def refresh(self) -> None:
        with self.db.session() as session:
            rows = list_models(session)
        self.set_rows(rows)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        m: ModelRef = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return m.name + ("  (default)" if m.is_default else "")
        if role == Qt.ToolTipRole:
            return f"{m.path}\n{m.format.upper()} · {format_bytes(m.size_bytes)} · {m.info.get('architecture', '?')}"
        if role == MODEL_ID_ROLE:
            return m.id
        return None
