"""Jobs and adapters as Qt table models over the database (the Training tab's two lists)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

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
    """The adapter registry; the name and the notes are edited in place (double-click)."""

    COLUMNS = ("Adapter", "Base model", "Eval loss", "A/B (wins–losses)", "Created", "Notes")
    EDITABLE = {0: "name", 5: "notes"}
    edit_failed = Signal(str)

    def refresh(self) -> None:
        with self.db.session() as session:
            rows = adapter_registry.list_adapters(session)
            self._facts = {a.id: (a.base_name, a.eval_loss_before, a.eval_loss_after, a.wins, a.losses,
                                  a.created_at, a.notes or "") for a in rows}
            self._set([adapter_registry.ref_of(a) for a in rows])

    def flags(self, index: QModelIndex):
        base = super().flags(index)
        return base | Qt.ItemIsEditable if index.isValid() and index.column() in self.EDITABLE else base

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        ref = self._rows[index.row()]
        base, before, after, wins, losses, created, notes = self._facts[ref.id]
        if role == ID_ROLE:
            return ref.id
        if role == Qt.ToolTipRole:
            if index.column() in self.EDITABLE:
                return "Double-click to edit."
            return f"PEFT: {ref.peft_dir}\nGGUF: {ref.gguf_path or 'none'}"
        if role not in (Qt.DisplayRole, Qt.EditRole):
            return None
        when = created.strftime("%Y-%m-%d %H:%M") if created else ""
        return (ref.name, base, _loss(before, after), f"{wins}–{losses}", when, notes)[index.column()]

    def setData(self, index: QModelIndex, value, role: int = Qt.EditRole) -> bool:
        field = self.EDITABLE.get(index.column()) if index.isValid() and role == Qt.EditRole else None
        if field is None:
            return False
        try:
            with self.db.session() as session:
                adapter_registry.update_adapter(session, self._rows[index.row()].id, **{field: str(value)})
        except (ValueError, LookupError) as exc:
            self.edit_failed.emit(str(exc))
            return False
        self.refresh()
        return True
