"""Downloads as a Qt table model: stored rows plus the live speed and ETA of the running ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from app.core.storage.models import DownloadStatus
from app.core.units import format_bytes

if TYPE_CHECKING:
    from app.core.library.downloads import DownloadInfo, DownloadProgress

COLUMNS = ("File", "Repository", "Progress", "Speed", "Time left", "Status")
PROGRESS_ROLE = Qt.UserRole + 50  # 0..1000 for the progress-bar delegate
DOWNLOAD_ID_ROLE = Qt.UserRole + 51
STATUS_TEXT = {
    DownloadStatus.QUEUED: "Queued",
    DownloadStatus.DOWNLOADING: "Downloading",
    DownloadStatus.PAUSED: "Paused",
    DownloadStatus.VERIFYING: "Verifying sha256…",
    DownloadStatus.DONE: "Done: in your library",
    DownloadStatus.FAILED: "Failed",
    DownloadStatus.CANCELLED: "Cancelled",
}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class DownloadListModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._rows: list[DownloadInfo] = []
        self._live: dict[int, DownloadProgress] = {}

    def set_rows(self, rows: list[DownloadInfo]) -> None:
        self.beginResetModel()
        self._rows = sorted(rows, key=lambda d: (d.status == DownloadStatus.DONE, -d.id))
        active = {r.id for r in self._rows if r.status in DownloadStatus.ACTIVE}
        self._live = {k: v for k, v in self._live.items() if k in active}
        self.endResetModel()

    def update_progress(self, progress: DownloadProgress) -> None:
        self._live[progress.download_id] = progress
        row = next((i for i, r in enumerate(self._rows) if r.id == progress.download_id), -1)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 2), self.index(row, len(COLUMNS) - 1))

    def row_at(self, row: int) -> DownloadInfo | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.DisplayRole):
        return COLUMNS[section] if orientation == Qt.Horizontal and role == Qt.DisplayRole else None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        d = self._rows[index.row()]
        live = self._live.get(d.id)  # progress newer than the stored row: it is running now
        done = live.done if live else d.bytes_done
        total = (live.total if live else d.total_bytes) or 1
        column = COLUMNS[index.column()]
        if role == DOWNLOAD_ID_ROLE:
            return d.id
        if role == PROGRESS_ROLE:
            return 1000 if d.status == DownloadStatus.DONE else int(1000 * min(done, total) / total)
        if role == Qt.ToolTipRole:
            lines = [f"{d.repo_id} / {d.filename}", f"commit {d.revision[:12]}", d.dest_path]
            if d.sha256:
                lines.append(f"expected sha256 {d.sha256}")
            if d.error:
                lines.append(d.error)
            return "\n".join(lines)
        if role != Qt.DisplayRole:
            return None
        if column == "File":
            return d.filename
        if column == "Repository":
            return d.repo_id
        if column == "Progress":
            shown = d.total_bytes if d.status == DownloadStatus.DONE else done
            return f"{format_bytes(shown)} / {format_bytes(d.total_bytes)}"
        if column == "Speed":
            return f"{format_bytes(live.speed_bps)}/s" if live and live.speed_bps else "—"
        if column == "Time left":
            return format_eta(live.eta_s) if live else "—"
        if column == "Status":
            text = STATUS_TEXT.get(DownloadStatus.DOWNLOADING if live else d.status, d.status)
            return f"{text}: {d.error}" if d.error and d.status == DownloadStatus.FAILED else text
        return None
