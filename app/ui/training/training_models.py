"""Jobs and adapters as Qt table models over the database (the Training tab's two lists)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt

from app.core.storage.db import Database
from app.core.storage.models import JobStatus
from app.core.training import adapters as adapter_registry
from app.core.training import jobs

ID_ROLE = Qt.UserRole + 1
STATUS_TEXT = {JobStatus.QUEUED: "Queued", JobStatus.RUNNING: "Running", JobStatus.DONE: "Done",
               JobStatus.FAILED: "Failed", JobStatus.CANCELLED: "Cancelled"}


def _loss(before: float | None, after: float | None) -> str:
    if before is None:
        return "—"
    return f"{before:.3f} → {after:.3f}" if after is not None else f"{before:.3f} → …"


class _Table(QAbstractTableModel):
    COLUMNS: tuple[str, ...] = ()

    def __init__(self, db: Database, parent=None):
        super().__init__(parent)
        self.db = db
        self._rows: list = []
        self.refresh()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.COLUMNS[section]
        return None

    def row_at(self, row: int):
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, row_id: int | None) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == row_id), -1)

    def _set(self, rows: list) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()


class JobsModel(_Table):
    COLUMNS = ("Job", "Status", "Progress", "Eval loss", "Method")

    def refresh(self) -> None:
        with self.db.session() as session:
            self._set(jobs.list_jobs(session))

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        job = self._rows[index.row()]
        if role == ID_ROLE:
            return job.id
        if role == Qt.ToolTipRole:
            return job.error or str(job.run_dir)
        if role != Qt.DisplayRole:
            return None
        return (job.name, STATUS_TEXT.get(job.status, job.status),
                f"{job.step} / {job.total_steps}" if job.total_steps else "—",
                _loss(job.eval_loss_before, job.eval_loss_after), job.method.upper())[index.column()]


class AdaptersModel(_Table):
    COLUMNS = ("Adapter", "Base model", "Eval loss", "A/B (wins–losses)")

    def refresh(self) -> None:
        with self.db.session() as session:
            rows = adapter_registry.list_adapters(session)
            self._facts = {a.id: (a.base_name, a.eval_loss_before, a.eval_loss_after, a.wins, a.losses) for a in rows}
            self._set([adapter_registry.ref_of(a) for a in rows])

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        ref = self._rows[index.row()]
        base, before, after, wins, losses = self._facts[ref.id]
        if role == ID_ROLE:
            return ref.id
        if role == Qt.ToolTipRole:
            return f"PEFT: {ref.peft_dir}\nGGUF: {ref.gguf_path or 'none'}"
        if role != Qt.DisplayRole:
            return None
        return (ref.name, base, _loss(before, after), f"{wins}–{losses}")[index.column()]
