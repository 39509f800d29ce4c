"""Registered models as a Qt list model (feeds the chat's model picker)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt

from app.core.library.registry import ModelRef, list_models
from app.core.storage.db import Database

MODEL_ID_ROLE = Qt.UserRole + 1


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return ""


class ModelListModel(QAbstractListModel):
    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self._rows: list[ModelRef] = []
        self.refresh()

    def refresh(self) -> None:
        with self.db.session() as session:
            rows = list_models(session)
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        m = self._rows[index.row()]
        if role == Qt.DisplayRole:
            return m.name + ("  (default)" if m.is_default else "")
        if role == Qt.ToolTipRole:
            return f"{m.path}\n{m.format.upper()} · {human_size(m.size_bytes)} · {m.info.get('architecture', '?')}"
        if role == MODEL_ID_ROLE:
            return m.id
        return None

    def row_of(self, model_id: int | None) -> int:
        return next((i for i, m in enumerate(self._rows) if m.id == model_id), -1)

    def ref_at(self, row: int) -> ModelRef | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None
