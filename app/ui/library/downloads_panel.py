"""The downloads list under the Models tab: progress bars with bytes, speed and ETA, and pause / resume / cancel."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QStyledItemDelegate,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.storage.models import DownloadStatus
from app.ui.library.download_manager import DownloadManager
from app.ui.library.downloads_model import COLUMNS, PROGRESS_ROLE, DownloadListModel
from app.ui.plain_text import plain_label


class ProgressDelegate(QStyledItemDelegate):
    """A slim bar with the byte counts written over it (painted directly: platform styles vary too much)."""

    def paint(self, painter, option, index: QModelIndex) -> None:
        rect = QRectF(option.rect.adjusted(4, 5, -4, -5))
        share = (index.data(PROGRESS_ROLE) or 0) / 1000
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor("#262b36"))
        painter.drawRoundedRect(rect, 5, 5)
        if share > 0:
            painter.setBrush(QColor("#e07a3f" if share < 1 else "#3f8f5f"))
            painter.drawRoundedRect(QRectF(rect.x(), rect.y(), max(10.0, rect.width() * share), rect.height()), 5, 5)
        painter.setPen(QColor("#ffffff"))
        painter.drawText(rect, Qt.AlignCenter, index.data(Qt.DisplayRole) or "")
        painter.restore()


class DownloadsPanel(QWidget):
    rows_changed = Signal(int)  # how many downloads are listed: the tab gives an empty list little room

    def __init__(self, manager: DownloadManager, parent: QWidget | None = None):
        super().__init__(parent)
        self.manager = manager
        self.model = DownloadListModel(self)
        self.table = QTableView()
        self.table.setObjectName("downloadsTable")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(COLUMNS.index("Progress"), ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)  # with wrapping on, Qt cuts the end of a long name whatever the elide mode
        self.table.setTextElideMode(Qt.ElideMiddle)  # long file and repo names keep both ends
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the file name gives way, not a column
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setSectionResizeMode(COLUMNS.index("File"), QHeaderView.Stretch)
        header.setSectionResizeMode(COLUMNS.index("Status"), QHeaderView.ResizeToContents)
        for column, width in (("Repository", 260), ("Progress", 200), ("Speed", 90), ("Time left", 100)):
            self.table.setColumnWidth(COLUMNS.index(column), width)
        self.title = plain_label("DOWNLOADS")
        self.title.setObjectName("sectionHeading")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.remove_button = QPushButton("Clear finished")
        bar = QHBoxLayout()
        bar.addWidget(self.title)
        bar.addStretch(1)
        for b in (self.pause_button, self.resume_button, self.cancel_button, self.remove_button):
            bar.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 4, 12, 8)
        layout.addLayout(bar)
        layout.addWidget(self.table)

        self.pause_button.clicked.connect(lambda: self._act(self.manager.pause))
        self.resume_button.clicked.connect(lambda: self._act(self.manager.resume))
        self.cancel_button.clicked.connect(lambda: self._act(self.manager.cancel))
        self.remove_button.clicked.connect(self.clear_finished)
        self.table.selectionModel().currentRowChanged.connect(self._update_buttons)
        manager.download_added.connect(self._changed)
        manager.download_finished.connect(self._changed)
        manager.download_progress.connect(self._progress)
        self._show_count(0)
        self._update_buttons()
        # The list is filled by the first refresh() after the window is shown (see ModelsTab.resume_downloads).

    def refresh(self) -> None:
        selected = self.selected()
        self.model.set_rows(self.manager.list())
        if selected is not None:
            for row in range(self.model.rowCount()):
                if self.model.row_at(row).id == selected.id:
                    self.table.selectRow(row)
        self._show_count(self.model.rowCount())
        self._update_buttons()

    def _show_count(self, count: int) -> None:
        self.title.setText(f"DOWNLOADS ({count})" if count else "DOWNLOADS: none yet (pick a model under Find on the Hub)")
        for widget in (self.table, self.pause_button, self.resume_button, self.cancel_button, self.remove_button):
            widget.setVisible(bool(count))
        self.rows_changed.emit(count)

    def selected(self):
        index = self.table.currentIndex()
        return self.model.row_at(index.row()) if index.isValid() else None

    def _act(self, action) -> None:
        d = self.selected()
        if d is not None:
            action(d.id)
            self.refresh()

    def clear_finished(self) -> None:
        for d in self.manager.list():
            if d.status in (DownloadStatus.DONE, DownloadStatus.CANCELLED):
                self.manager.remove(d.id)
        self.refresh()

    @Slot(object)
    def _changed(self, *_args) -> None:
        self.refresh()

    @Slot(object)
    def _progress(self, progress) -> None:
        self.model.update_progress(progress)

    def _update_buttons(self, *_args) -> None:
        d = self.selected()
        running = d is not None and self.manager.is_running(d.id)
        self.pause_button.setEnabled(running)
        self.resume_button.setEnabled(d is not None and not running and d.status not in (DownloadStatus.DONE, DownloadStatus.CANCELLED))
        self.cancel_button.setEnabled(d is not None and d.status != DownloadStatus.DONE)
