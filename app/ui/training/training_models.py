"""The Training tab's lists as Qt models over the database: the jobs, the assistants, and the selected assistant's
versions (each version is an adapter)."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFont

from app.core.storage.db import Database
from app.core.storage.models import JobStatus
from app.core.training import adapters as adapter_registry
from app.core.training import jobs
from app.core.training.versions import Assistant, Version, list_assistants
from app.ui.row_model import RowListModel

ID_ROLE = Qt.UserRole + 1
BUTTON_ENABLED_ROLE = Qt.UserRole + 2  # the Use column: whether its button can be pressed
IN_USE = "✓ In use"
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


def _accuracy(before: float | None, after: float | None) -> str:
    if after is None:
        return "—"
    return f"{before:.0%} → {after:.0%}" if before is not None else f"{after:.0%}"


def _margin(before: float | None, after: float | None) -> str:
    if after is None:
        return "—"
    return f"{before:+.2f} → {after:+.2f}" if before is not None else f"{after:+.2f}"


class AssistantsModel(RowListModel):
    """The assistants, newest version first: a name and what it has (versions, which one this chat uses)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.in_use = ""  # the adapter the chat on screen answers through (its name)

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        return "Assistant" if orientation == Qt.Horizontal and role == Qt.DisplayRole else None

    def row_of_name(self, name: str | None) -> int:
        return next((i for i, a in enumerate(self._rows) if a.name == name), -1)

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        assistant: Assistant = self._rows[index.row()]
        if role == Qt.DisplayRole:
            count = len(assistant.versions)
            line = f"{count} version{'s' if count > 1 else ''} · latest v{assistant.latest.number}"
            using = next((v for v in assistant.versions if v.name == self.in_use), None)
            if using is not None:
                line += f" · v{using.number} in use"
            return f"{assistant.name}\n{line}"
        if role == Qt.ToolTipRole:
            return f"Trained on {assistant.latest.base_name}"
        return None


class VersionsModel(_Table):
    """The selected assistant's versions, newest first, with the figures that tell them apart; the notes are edited
    in place (double-click) and the last column is the version's Use button (drawn by the view's delegate).

    Refreshing reads every assistant once and hands the list to `assistants`, so both lists come from one query."""

    # The Use button comes second, so a narrow window cuts the notes, never the button.
    COLUMNS = ("Version", "", "Eval loss", "Preferences", "Margin", "A/B", "Trained", "Notes")
    HEADER_TIPS = {
        "Eval loss": "Loss on the held-out examples, before training → after.",
        "Preferences": "Preference accuracy on held-out pairs: the share where the preferred reply is the more "
                       "likely one, without the adapter → with it.",
        "Margin": "The mean log-probability margin of the preferred reply over the other, without → with.",
        "A/B": "Blind A/B tests against the base model: wins–losses.",
    }
    VERSION, USE = 0, 1
    EDITABLE = {7: "notes"}
    edit_failed = Signal(str)

    def __init__(self, db: Database, parent=None):
        self.assistants = AssistantsModel(parent)
        self.assistant: str | None = None
        self._all: list[Assistant] = []
        super().__init__(db, parent)

    def refresh(self) -> None:
        with self.db.session() as session:
            self._all = list_assistants(session)
        self.assistants.set_rows(self._all)
        if self.assistants.row_of_name(self.assistant) < 0:
            self.assistant = self._all[0].name if self._all else None
        self._show()

    def show_assistant(self, name: str | None) -> None:
        if name != self.assistant:
            self.assistant = name
            self._show()

    def _show(self) -> None:
        found = next((a for a in self._all if a.name == self.assistant), None)
        self._set(list(reversed(found.versions)) if found else [])

    def set_in_use(self, adapter_name: str) -> None:
        self.assistants.in_use = adapter_name
        self.assistants.dataChanged.emit(self.assistants.index(0), self.assistants.index(self.assistants.rowCount() - 1))
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, self.USE))

    @property
    def in_use(self) -> str:
        return self.assistants.in_use

    def flags(self, index: QModelIndex):
        base = super().flags(index)
        return base | Qt.ItemIsEditable if index.isValid() and index.column() in self.EDITABLE else base

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        v: Version = self._rows[index.row()]
        used = v.name == self.in_use
        column = index.column()
        if role == ID_ROLE:
            return v.id
        if role == BUTTON_ENABLED_ROLE:
            return not used
        if role == Qt.FontRole and used and column in (self.VERSION, self.USE):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.TextAlignmentRole and column == self.USE:
            return Qt.AlignCenter
        if role == Qt.ToolTipRole:
            return self._tooltip(v, column)
        if role not in (Qt.DisplayRole, Qt.EditRole):
            return None
        when = v.created_at.strftime("%Y-%m-%d %H:%M") if v.created_at else ""
        return (f"v{v.number}", IN_USE if used else "Use",
                _loss(v.eval_loss_before, v.eval_loss_after), _accuracy(v.pref_accuracy_before, v.pref_accuracy_after),
                _margin(v.pref_margin_before, v.pref_margin_after), f"{v.wins}–{v.losses}", when, v.notes)[column]

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole:
            return self.HEADER_TIPS.get(self.COLUMNS[section])
        return super().headerData(section, orientation, role)

    def _tooltip(self, v: Version, column: int) -> str:
        if column in self.EDITABLE:
            return f"{v.notes}\n\nDouble-click to edit." if v.notes else "Double-click to edit."
        if column == self.USE:
            return ("The conversation on screen answers through this version." if v.name == self.in_use else
                    f"Answer the conversation on screen through {v.label}.")
        if column in (3, 4):
            if v.pref_accuracy_after is None:
                return "No held-out preference pairs: rate two versions of a reply, or correct one, to measure it."
            return (f"On {v.pref_pairs or 0} held-out pairs, the share where the preferred reply is the more likely one, "
                    "and the mean log-probability margin between the two, without the adapter and with it.")
        return f"{v.name} on {v.base_name}"

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
