"""The hub page before any search: the models Hearth recommends, each with its fit badge and one-click Download.

The list ships with Hearth, so it shows offline; a download needs the network and says so when it is missing
(the hub client's one-line message, shown by the hub page).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHeaderView, QPushButton, QVBoxLayout, QWidget

from app.core.library.fit import FitEstimate, MemoryBudget
from app.core.library.metadata import parameter_label
from app.core.library.recommended import RecommendedModel
from app.core.units import format_bytes
from app.ui.library.fit_badge import VERDICT_ROLE, FitBadgeDelegate
from app.ui.plain_text import plain_label
from app.ui.row_model import RowTableModel
from app.ui.tables import row_table

NETWORK_HINT = (
    "Recommended to start with: small chat models that run on an ordinary computer. The list comes with Hearth; "
    "downloading one needs an internet connection. Search above for anything else."
)


class RecommendedTableModel(RowTableModel):
    columns = ("Model", "Family", "Params", "Size", "Licence", "Fit", "")

    def __init__(self, n_ctx: int, gpu_layers: int = 0, parent=None):
        super().__init__(parent)
        self.n_ctx, self.gpu_layers = n_ctx, gpu_layers
        self.rows: list[RecommendedModel] = []
        self.fits: list[FitEstimate] = []

    def set_entries(self, entries: list[RecommendedModel], budget: MemoryBudget | None = None) -> None:
        budget = budget or MemoryBudget.now()  # one reading for the whole list
        fits = [m.fit(self.n_ctx, gpu_layers=self.gpu_layers, budget=budget) for m in entries]
        self.beginResetModel()
        self.rows, self.fits = list(entries), fits
        self.endResetModel()

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and self.columns[section] == "Fit":
            return f"Will it fit in the memory free now, with {self.n_ctx:,} tokens of context?"
        return super().headerData(section, orientation, role)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        m, fit, column = self.rows[index.row()], self.fits[index.row()], self.columns[index.column()]
        if role == VERDICT_ROLE and column == "Fit":
            return fit.verdict
        if role == Qt.ToolTipRole:
            if column == "Fit":
                return fit.explain()
            if column == "Licence":
                return m.licence_url
            return f"{m.name}: {m.about}\n{m.repo_id} · {m.filename}\n{format_bytes(m.size)} · sha256 {m.sha256}"
        if role != Qt.DisplayRole:
            return None
        return {
            "Model": m.name,
            "Family": m.family,
            "Params": parameter_label(m.info),
            "Size": format_bytes(m.size),
            "Licence": m.licence,
            "Fit": fit.verdict,
            "": "",
        }[column]


class RecommendedPanel(QWidget):
    download_requested = Signal(str, str)  # repo, file: the download pins the repo's current commit

    def __init__(self, n_ctx: int, gpu_layers: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.hint = plain_label(NETWORK_HINT)
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        self.model = RecommendedTableModel(n_ctx, gpu_layers, self)
        self.view = row_table(self.model)
        self.view.setObjectName("recommendedTable")
        self.view.setTextElideMode(Qt.ElideMiddle)
        self.view.setItemDelegateForColumn(self.model.columns.index("Fit"), FitBadgeDelegate(self.view))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.hint)
        layout.addWidget(self.view, 1)

    def set_entries(self, entries: list[RecommendedModel], budget: MemoryBudget | None = None) -> None:
        self.model.set_entries(entries, budget)
        column = self.model.columns.index("")
        for row, m in enumerate(self.model.rows):
            button = QPushButton("Download")
            button.setToolTip(f"Download {m.filename} ({format_bytes(m.size)}) from {m.repo_id}")
            button.clicked.connect(lambda _=False, m=m: self.download_requested.emit(m.repo_id, m.filename))
            self.view.setIndexWidget(self.model.index(row, column), button)
            button.ensurePolished()  # the theme's padding decides its size
            # rows and the column as big as the button, so it is never clipped
            self.view.verticalHeader().setDefaultSectionSize(button.sizeHint().height() + 6)
            self.view.horizontalHeader().setSectionResizeMode(column, QHeaderView.Fixed)
            self.view.setColumnWidth(column, button.sizeHint().width() + 8)

    def download_button(self, row: int) -> QPushButton:
        return self.view.indexWidget(self.model.index(row, self.model.columns.index("")))
