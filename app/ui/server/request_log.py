"""The Server tab's request log: one row per API request the engine answered, newest first, bounded in length."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QColor

from app.core.local_server import RequestRecord

MAX_ROWS = 500  # a busy client sends thousands; the log shows the recent ones and keeps memory flat
COLUMNS = ("Time", "Client", "Request", "Model", "Tokens in", "Tokens out", "tok/s", "Status")
NUMBER_COLUMNS = {4, 5, 6, 7}
MODEL_COLUMN = 3
WINDOW_ROUTES = "/hearth/v1/"
FAILED = QColor("#ff9b8f")
ANSWERED = QColor("#7fd1a0")


def _route(record: RequestRecord) -> str:
    """"chat/completions" for the API; "window: replies" for what Hearth's own window asked the engine."""
    route = record.route
    if route.startswith(WINDOW_ROUTES):
        return "window: " + route.removeprefix(WINDOW_ROUTES)
    return f"{record.method} {route.removeprefix('/v1/')}".strip()


def _cell(record: RequestRecord, column: int) -> str:
    if column == 0:
        return time.strftime("%H:%M:%S", time.localtime(record.time)) if record.time is not None else ""
    if column == 1:
        return record.client
    if column == 2:
        return _route(record)
    if column == 3:
        return record.model
    if column == 4:
        return "" if record.prompt_tokens is None else str(record.prompt_tokens)
    if column == 5:
        return "" if record.completion_tokens is None else str(record.completion_tokens)
    if column == 6:
        return "" if not record.tokens_per_s else f"{record.tokens_per_s:.1f}"
    return "" if record.status is None else str(record.status)


def _details(record: RequestRecord) -> str:
    lines = [f"{record.method} {record.route}".strip(), f"from {record.client or 'unknown client'}"]
    if record.duration_s is not None:
        lines.append(f"took {record.duration_s:.2f} s")
    if record.error:
        lines.append(record.error)
    return "\n".join(lines)


class RequestLogModel(QAbstractTableModel):
    def __init__(self, parent=None, max_rows: int = MAX_ROWS):
        super().__init__(parent)
        self.max_rows = max_rows
        self._rows: list[RequestRecord] = []  # newest first

    def add_event(self, event: dict[str, Any]) -> None:
        """One `request` event from the engine: shown on top; the oldest row goes once the log is full."""
        record = RequestRecord.from_event(event)
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._rows.insert(0, record)
        self.endInsertRows()
        if len(self._rows) > self.max_rows:
            self.beginRemoveRows(QModelIndex(), self.max_rows, len(self._rows) - 1)
            del self._rows[self.max_rows:]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self.endResetModel()

    def record(self, row: int) -> RequestRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.TextAlignmentRole and section in NUMBER_COLUMNS:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        record = self.record(index.row())
        if record is None:
            return None
        column = index.column()
        if role == Qt.DisplayRole:
            return _cell(record, column)
        if role == Qt.ToolTipRole:
            return _details(record)
        if role == Qt.TextAlignmentRole and column in NUMBER_COLUMNS:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and column == 7 and record.status is not None:
            return FAILED if record.failed else ANSWERED
        return None
