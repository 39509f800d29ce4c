"""'Find on the Hub': the recommended models until a search, then search results, a repo's files with size,
quantisation and a fit badge each, and Download (enabled only while a file is selected).

Every hub call runs off the UI thread; offline, not found, gated and unauthorised come back as one clear line.
The hub client (and huggingface_hub under it) is imported on first use, so the window does not wait for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.library.fit import FitEstimate, MemoryBudget, Verdict, estimate
from app.core.library.recommended import RecommendedListError, RecommendedModel
from app.core.library.recommended import load as load_recommended
from app.core.units import format_bytes
from app.ui.background import run_in_background
from app.ui.library.fit_badge import VERDICT_ROLE, FitBadgeDelegate
from app.ui.library.recommended_panel import RecommendedPanel
from app.ui.plain_text import plain_label
from app.ui.row_model import RowTableModel
from app.ui.tables import row_table

if TYPE_CHECKING:
    from app.core.library import hub


class SearchResultsModel(RowTableModel):
    columns = ("Model", "Downloads", "Likes", "Files")

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid() or role not in (Qt.DisplayRole, Qt.ToolTipRole):
            return None
        m: hub.ModelSummary = self.rows[index.row()]
        if role == Qt.ToolTipRole:
            return f"{m.id}\n{', '.join(m.tags[:12])}" + ("\nGated: you must accept its licence on the hub" if m.gated else "")
        return (
            m.id + ("  🔒" if m.gated else ""),
            f"{m.downloads:,}",
            f"{m.likes:,}",
            "GGUF" if m.has_gguf else "safetensors",
        )[index.column()]


class RepoFilesModel(RowTableModel):
    columns = ("File", "Size", "Quant", "Fit")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.fits: dict[str, FitEstimate] = {}

    def set_listing(self, files: list[hub.HubFile], fits: dict[str, FitEstimate]) -> None:
        self.fits = fits
        self.set_rows(files)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        f: hub.HubFile = self.rows[index.row()]
        column = self.columns[index.column()]
        fit = self.fits.get(f.filename)
        if role == VERDICT_ROLE and column == "Fit":
            return fit.verdict if fit else None
        if role == Qt.ToolTipRole:
            return fit.explain() if fit and column == "Fit" else f.filename + (f"\nsha256 {f.sha256}" if f.sha256 else "")
        if role != Qt.DisplayRole:
            return None
        if column == "File":
            return f.filename
        if column == "Size":
            return format_bytes(f.size)
        if column == "Quant":
            return f.quant or "—"
        return fit.verdict if fit else ""




class HubPage(QWidget):
    download_requested = Signal(str, str, str)  # repo, file, pinned revision
    folder_download_requested = Signal(str, str)  # repo, pinned revision: a safetensors model, all its files
    recommended_download_requested = Signal(str, str)  # repo, file: the commit is pinned when it is planned

    def __init__(
        self,
        n_ctx: int,
        gpu_layers: int = 0,
        parent: QWidget | None = None,
        recommended: list[RecommendedModel] | None = None,
    ):
        super().__init__(parent)
        self.n_ctx, self.gpu_layers = n_ctx, gpu_layers
        self.listing: hub.RepoListing | None = None
        self.query = QLineEdit(placeholderText="Search the Hugging Face Hub, e.g. “qwen 7b instruct gguf”")
        self.query.setObjectName("searchField")
        self.gguf_only = QCheckBox("GGUF only")
        self.gguf_only.setChecked(True)
        self.search_button = QPushButton("Search")
        self.search_button.setObjectName("primaryButton")
        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.gguf_only)
        top.addWidget(self.search_button)
        self.message = plain_label("Searching needs the internet; everything else in Hearth works offline.")
        self.message.setObjectName("hint")
        self.message.setWordWrap(True)

        self.results = SearchResultsModel(self)
        self.results_view = row_table(self.results)
        self.results_view.setTextElideMode(Qt.ElideMiddle)  # owner/…-GGUF: both ends say which model
        self.files = RepoFilesModel(self)
        self.files_view = row_table(self.files)
        self.files_view.setItemDelegateForColumn(RepoFilesModel.columns.index("Fit"), FitBadgeDelegate(self.files_view))
        self.repo_title = plain_label("Pick a model to see its files")
        self.repo_title.setObjectName("detailsTitle")
        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primaryButton")
        self.download_button.setEnabled(False)  # until a file is selected
        self.download_button.setToolTip("Pick a file in the list first")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.addWidget(self.repo_title)
        right_layout.addWidget(self.files_view, 1)
        right_layout.addWidget(self.download_button, 0, Qt.AlignRight)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(self.results_view)
        splitter.addWidget(right)
        splitter.setSizes([560, 680])
        self.search_pane = splitter
        self.recommended = RecommendedPanel(n_ctx, gpu_layers)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.recommended)
        self.stack.addWidget(self.search_pane)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 6)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.stack, 1)
        self._load_recommended(recommended)

        self.search_button.clicked.connect(self.search)
        self.query.returnPressed.connect(self.search)
        self.query.textChanged.connect(self._query_edited)
        self.results_view.selectionModel().currentRowChanged.connect(self._repo_selected)
        self.files_view.selectionModel().selectionChanged.connect(self._file_selected)
        self.download_button.clicked.connect(self._download)
        self.recommended.download_requested.connect(self._download_recommended)

    # --- recommended models ---------------------------------------------------------------------------------
    def _load_recommended(self, entries: list[RecommendedModel] | None) -> None:
        if entries is None:
            try:
                entries = load_recommended()
            except RecommendedListError as exc:
                self.recommended.hint.setText(str(exc))
                entries = []
        self.recommended.set_entries(entries)

    def showing_recommended(self) -> bool:
        return self.stack.currentWidget() is self.recommended

    def show_recommended(self) -> None:
        self.stack.setCurrentWidget(self.recommended)

    def _query_edited(self, text: str) -> None:
        if not text.strip():  # an empty search box brings the recommendations back
            self.show_recommended()

    def _download_recommended(self, repo_id: str, filename: str) -> None:
        self._busy(f"Downloading {filename} from {repo_id}: see the progress below.")
        self.recommended_download_requested.emit(repo_id, filename)

    def _busy(self, text: str) -> None:
        self.message.setText(text)

    def _error(self, exc: BaseException) -> None:
        self.search_button.setEnabled(True)
        from app.core.library.hub import HubError

        self.message.setText(exc.message if isinstance(exc, HubError) else f"The hub request failed: {exc}")

    def search(self) -> None:
        text = self.query.text().strip()
        if not text:
            return
        self.search_button.setEnabled(False)
        self._busy(f"Searching for “{text}”…")
        gguf_only = self.gguf_only.isChecked()

        def work():
            from app.core.library.hub import search_models

            return search_models(text, limit=40, gguf_only=gguf_only)

        run_in_background(work, self._searched, self._error)

    def _searched(self, results: list[hub.ModelSummary]) -> None:
        self.search_button.setEnabled(True)
        self.stack.setCurrentWidget(self.search_pane)
        self.results.set_rows(results)
        self._busy(f"{len(results)} model(s). Pick one to see its files and whether they fit." if results else "Nothing found.")

    def _repo_selected(self, current: QModelIndex, _previous=None) -> None:
        if not current.isValid():
            return
        repo = self.results.rows[current.row()].id
        self.open_repo(repo)

    def open_repo(self, repo_id: str) -> None:
        self.stack.setCurrentWidget(self.search_pane)
        self.repo_title.setText(repo_id)
        self.files.set_listing([], {})
        self._file_selected()
        self._busy(f"Reading the files of {repo_id}…")
        n_ctx, gpu_layers = self.n_ctx, self.gpu_layers

        def work():
            from app.core.library.hub import repo_files
            from app.core.library.hub_fit import remote_shape

            listing = repo_files(repo_id)
            shape = remote_shape(listing)  # one small header read, shared by every quantisation of the model
            budget = MemoryBudget.now()
            fits = {}
            for f in listing.files:
                if shape is not None and (f.is_gguf or f.filename.endswith(".safetensors")):
                    backend = "llama.cpp" if f.is_gguf else "transformers"
                    weights = f.size if f.is_gguf else sum(x.size for x in listing.files if x.filename.endswith(".safetensors"))
                    fits[f.filename] = estimate(
                        {**shape, "weights_bytes": weights}, n_ctx, backend=backend, gpu_layers=gpu_layers, budget=budget
                    )
            return listing, fits

        run_in_background(work, self._listed, self._error)

    def _listed(self, result) -> None:
        listing, fits = result
        self.listing = listing
        wanted = [f for f in listing.files if f.is_gguf] or [f for f in listing.files if f.filename.endswith(".safetensors")]
        self.files.set_listing(wanted, fits)
        self._file_selected()  # the reset cleared any selection
        gated = " It is gated: accept its licence on huggingface.co and add a token first." if listing.gated else ""
        self._busy(f"{listing.repo_id} at commit {listing.revision[:12]}: {len(wanted)} model file(s).{gated}")
        if not fits:
            self.message.setText(self.message.text() + " (The fit could not be estimated: the model's shape is unknown.)")

    def _is_folder_model(self) -> bool:
        return self.listing is not None and not self.listing.gguf_files

    def _selected_file_row(self) -> int | None:
        """The selected file's row; a current index without a selection (focus alone) does not count."""
        rows = self.files_view.selectionModel().selectedRows()
        return rows[0].row() if rows and self.listing is not None and rows[0].row() < len(self.files.rows) else None

    def _file_selected(self, *_args) -> None:
        row = self._selected_file_row()
        self.download_button.setEnabled(row is not None)
        self.download_button.setToolTip("" if row is not None else "Pick a file in the list first")
        if row is None:
            self.download_button.setText("Download")
        elif self._is_folder_model():
            total = sum(f.size for f in self.files.rows)
            self.download_button.setText(f"Download the model folder ({format_bytes(total)}, for transformers)")
        else:
            f = self.files.rows[row]
            fit = self.files.fits.get(f.filename)
            label = f"Download {format_bytes(f.size)}"
            if fit and fit.verdict == Verdict.WONT_FIT:
                label += " (won't fit)"
            self.download_button.setText(label)

    def _download(self) -> None:
        row = self._selected_file_row()
        if self.listing is None or row is None:
            return
        if self._is_folder_model():
            self.folder_download_requested.emit(self.listing.repo_id, self.listing.revision)
            self._busy(f"Downloading {self.listing.repo_id}: see the progress below.")
            return
        f = self.files.rows[row]
        self.download_requested.emit(self.listing.repo_id, f.filename, self.listing.revision)
        self._busy(f"Downloading {f.filename}: see the progress below.")
