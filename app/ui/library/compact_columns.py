"""Keeps a table's name column readable when the window is narrow.

Every other column sizes to its contents and the name column takes what is left. When that leaves the name too
little room (the library at 1024 px wide left it ~90 px: "Llam…_K_M"), the columns the details panel also shows
are hidden; if the name is still short of its minimum, it keeps the minimum and the table scrolls sideways.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QHeaderView, QTableView

NAME_MIN_WIDTH = 220


class CompactColumns(QObject):
    def __init__(self, table: QTableView, hideable: list[int], name_column: int = 0, name_min: int = NAME_MIN_WIDTH):
        super().__init__(table)
        self.table, self.hideable, self.name_column, self.name_min = table, hideable, name_column, name_min
        self._pending = False
        self._seen: dict[int, int] = {}
        table.installEventFilter(self)
        model = table.model()
        for signal in (model.modelReset, model.layoutChanged, model.rowsInserted, model.dataChanged):
            signal.connect(self.schedule)

    def eventFilter(self, watched, event) -> bool:
        if watched is self.table and event.type() in (QEvent.Resize, QEvent.Show):
            self.schedule()
        return False

    def schedule(self, *_args) -> None:
        if not self._pending:  # one pass after a burst of changes
            self._pending = True
            QTimer.singleShot(0, self, self.apply)  # with self as context: dropped if the table is gone

    def _content_width(self, column: int) -> int:
        """What the column would take if shown (Qt reports -1 for a hidden one, so the last width seen is kept)."""
        if not self.table.isColumnHidden(column):
            header = self.table.horizontalHeader()
            self._seen[column] = max(self.table.sizeHintForColumn(column), header.sectionSizeHint(column))
        return self._seen.get(column, 0)

    @property
    def compact(self) -> bool:
        return any(self.table.isColumnHidden(c) for c in self.hideable)

    def apply(self) -> None:
        self._pending = False
        header, available = self.table.horizontalHeader(), self.table.viewport().width()
        others = [c for c in range(header.count()) if c != self.name_column]
        widths = {c: self._content_width(c) for c in others}
        compact = available - sum(widths.values()) < self.name_min
        for column in self.hideable:
            self.table.setColumnHidden(column, compact)
        room = available - sum(w for c, w in widths.items() if not (compact and c in self.hideable))
        if room >= self.name_min:
            header.setSectionResizeMode(self.name_column, QHeaderView.Stretch)
        else:
            header.setSectionResizeMode(self.name_column, QHeaderView.Interactive)
            header.resizeSection(self.name_column, self.name_min)
