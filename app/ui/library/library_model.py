"""The local library as a Qt table model, with a proxy that sorts by real values and filters by name, format, fit."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt

from app.core.engine.host import resolve_backend
from app.core.library import registry
from app.core.library.fit import FitEstimate, MemoryBudget, estimate
from app.core.library.load_crash import load_crash_note
from app.core.library.metadata import parameter_label
from app.core.library.registry import ModelRef
from app.core.storage.db import Database
from app.core.units import format_bytes
from app.ui.library.fit_badge import VERDICT_ROLE

SORT_ROLE = Qt.UserRole + 41
MODEL_ID_ROLE = Qt.UserRole + 42
COLUMNS = ("Name", "Format", "Params", "Quant", "Context", "Size", "Fit", "Measured", "Speed")


def backend_for(ref: ModelRef) -> str:
    return resolve_backend(ref.format)


@dataclass(frozen=True)
class LibraryRow:
    ref: ModelRef
    fit: FitEstimate
    measured: int | None

    @property
    def id(self) -> int:
        return self.ref.id


class LibraryTableModel(QAbstractTableModel):
    def __init__(self, db: Database, n_ctx: int, gpu_layers: int = 0, parent=None):
        super().__init__(parent)
        self.db, self.n_ctx, self.gpu_layers = db, n_ctx, gpu_layers
        self.loaded_id: int | None = None
        self._rows: list[LibraryRow] = []

    # --- data ------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        with self.db.session() as session:
            refs = registry.list_models(session)
        budget = MemoryBudget.now()  # one reading for the whole list
        self.beginResetModel()
        self._rows = [self._row(ref, budget) for ref in refs]
        self.endResetModel()

    def _row(self, ref: ModelRef, budget: MemoryBudget) -> LibraryRow:
        backend = backend_for(ref)
        fit = estimate(ref.info, self.n_ctx, backend=backend, gpu_layers=self.gpu_layers, budget=budget)
        return LibraryRow(ref, fit, registry.measured_peak(ref, self.n_ctx, backend))

    def set_context(self, n_ctx: int) -> None:
        self.n_ctx = n_ctx
        self.refresh()

    def set_loaded(self, model_id: int | None) -> None:
        self.loaded_id = model_id
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))

    def row_at(self, row: int) -> LibraryRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, model_id: int) -> int:
        return next((i for i, r in enumerate(self._rows) if r.id == model_id), -1)

    # --- Qt model --------------------------------------------------------------------------------------------
    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and COLUMNS[section] == "Fit":
            return f"Will it fit in the memory free now, with {self.n_ctx:,} tokens of context?"
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        ref, column = row.ref, COLUMNS[index.column()]
        if role == MODEL_ID_ROLE:
            return ref.id
        if role == VERDICT_ROLE and column == "Fit":
            return row.fit.verdict
        if role == Qt.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.DisplayRole:
            return self._display(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ForegroundRole and not ref.exists:
            return Qt.gray
        return None

    def _display(self, row: LibraryRow, column: str):
        ref, info = row.ref, row.ref.info
        if column == "Name":
            marks = (" ★" if ref.is_default else "") + (" ● loaded" if ref.id == self.loaded_id else "")
            crashed = "  ⚠ crashed the engine" if ref.load_crashed_at else ""  # the tooltip and details say when
            return ref.name + marks + ("  (file missing)" if not ref.exists else "") + crashed
        if column == "Format":
            return "GGUF" if ref.format == "gguf" else "HF"
        if column == "Params":
            return parameter_label(info)
        if column == "Quant":
            return info.get("quant") or "?"
        if column == "Context":
            n = info.get("context_length")
            return f"{n // 1024}k" if isinstance(n, int) and n >= 1024 else (str(n) if n else "?")
        if column == "Size":
            return format_bytes(ref.size_bytes)
        if column == "Fit":
            return row.fit.verdict
        if column == "Measured":
            if row.measured is None:
                return "—"
            return f"{format_bytes(row.measured)} / {format_bytes(row.fit.total)}"
        if column == "Speed":
            bench = ref.benchmark or {}
            return f"{bench['gen_tok_s']:.0f} tok/s" if bench.get("gen_tok_s") else "—"
        return None

    def _sort_key(self, row: LibraryRow, column: str):
        ref, info = row.ref, row.ref.info
        return {
            "Name": ref.name.lower(),
            "Format": ref.format,
            "Params": info.get("parameters") or 0,
            "Quant": info.get("quant") or "",
            "Context": info.get("context_length") or 0,
            "Size": ref.size_bytes,
            "Fit": row.fit.total,
            "Measured": row.measured or 0,
            "Speed": (ref.benchmark or {}).get("gen_tok_s") or 0.0,
        }[column]

    def _tooltip(self, row: LibraryRow, column: str) -> str:
        if column in ("Fit", "Measured"):
            text = row.fit.explain()
            if row.measured is not None:
                diff = 100 * (row.measured - row.fit.total) / max(1, row.fit.total)
                text += f"\nMeasured on a real load: {format_bytes(row.measured)} ({diff:+.0f}% against the estimate)"
            else:
                text += "\nNot measured yet: load the model once and Hearth records what it really used."
            return text
        if column == "Speed" and row.ref.benchmark:
            b = row.ref.benchmark
            return f"Prompt {b.get('prompt_tok_s')} tok/s · generation {b.get('gen_tok_s')} tok/s\n{b.get('machine')} · {b.get('when')}"
        if column == "Name":  # the cell may be elided; the tooltip always has the whole name
            note = load_crash_note(row.ref.load_crashed_at)
            crash = f"\nIt {note}, so it is not loaded at start; load it here to try again." if note else ""
            return f"{row.ref.name}\n{row.ref.path}{crash}"
        return row.ref.path


class LibraryFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.text, self.format, self.verdict = "", "", ""
        self.setSortRole(SORT_ROLE)
        self.setSortCaseSensitivity(Qt.CaseInsensitive)

    def set_filter(self, text: str | None = None, fmt: str | None = None, verdict: str | None = None) -> None:
        self.beginFilterChange()
        if text is not None:
            self.text = text.strip().lower()
        if fmt is not None:
            self.format = fmt
        if verdict is not None:
            self.verdict = verdict
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        row = self.sourceModel().row_at(source_row)
        if row is None:
            return False
        if self.text and self.text not in row.ref.name.lower() and self.text not in (row.ref.info.get("architecture") or "").lower():
            return False
        if self.format and row.ref.format != self.format:
            return False
        return not self.verdict or row.fit.verdict == self.verdict
