"""'On this computer': the library table with filters, import (dialogs and drag-and-drop), and the details panel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.engine.gguf_check import GGUFError
from app.core.library import registry, scan
from app.core.library.fit import Verdict
from app.core.library.metadata import ModelFolderError, is_hf_folder
from app.core.storage.db import Database
from app.core.units import format_bytes
from app.ui.background import run_in_background
from app.ui.library.compact_columns import CompactColumns
from app.ui.library.details_panel import ModelDetailsPanel
from app.ui.library.fit_badge import FitBadgeDelegate
from app.ui.library.library_model import COLUMNS, LibraryFilterProxy, LibraryTableModel
from app.ui.library.name_delegate import MiddleElideDelegate
from app.ui.plain_text import message_box, plain_label

IMPORT_ERRORS = (GGUFError, ModelFolderError, ValueError, OSError)


class LibraryPage(QWidget):
    library_changed = Signal()  # models added, removed or renamed: the chat's model picker refreshes
    load_requested = Signal(int)
    unload_requested = Signal()
    benchmark_requested = Signal(int)
    # A removed model: whatever runs models lets go of it and then calls model_released, so its files are never
    # deleted under a loaded model (the Models tab wires this to the engine).
    release_requested = Signal(int)

    def __init__(self, db: Database, n_ctx: int, gpu_layers: int = 0, parent: QWidget | None = None):
        super().__init__(parent)
        self.db = db
        self._awaiting_release: dict[int, registry.Removal] = {}
        self.setAcceptDrops(True)
        self.model = LibraryTableModel(db, n_ctx, gpu_layers, self)
        self.proxy = LibraryFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit(placeholderText="Filter by name or architecture")
        self.search.setObjectName("searchField")
        self.format_box = QComboBox()
        for label, value in (("All formats", ""), ("GGUF", "gguf"), ("Hugging Face", "hf")):
            self.format_box.addItem(label, value)
        self.fit_box = QComboBox()
        for label, value in (("Any fit", ""), ("Fits", Verdict.FITS), ("Tight", Verdict.TIGHT), ("Won't fit", Verdict.WONT_FIT)):
            self.fit_box.addItem(label, value)
        self.context_box = QSpinBox(minimum=512, maximum=1_048_576, singleStep=1024, value=n_ctx, suffix=" tokens")
        self.context_box.setToolTip("The context size the fit badges are computed for")
        self.import_file_button = QPushButton("Import file…")
        self.import_folder_button = QPushButton("Import HF folder…")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("List every model inside a folder, in place (nothing is copied)")
        self.rescan_button = QPushButton("Rescan")
        self.search.setMinimumWidth(140)
        actions = QHBoxLayout()
        for b in (self.import_file_button, self.import_folder_button, self.add_folder_button, self.rescan_button):
            actions.addWidget(b)
        actions.addStretch(1)
        toolbar = QHBoxLayout()
        toolbar.addWidget(self.search, 1)
        toolbar.addWidget(self.format_box)
        toolbar.addWidget(self.fit_box)
        toolbar.addWidget(plain_label("Fit for"))
        toolbar.addWidget(self.context_box)

        self.table = QTableView()
        self.table.setObjectName("libraryTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.setItemDelegateForColumn(COLUMNS.index("Fit"), FitBadgeDelegate(self.table))
        self.table.setTextElideMode(Qt.ElideMiddle)
        self.table.setItemDelegateForColumn(COLUMNS.index("Name"), MiddleElideDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        self.columns = CompactColumns(self.table, [COLUMNS.index(c) for c in ("Format", "Context", "Measured")])
        self.status = plain_label("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)

        self.details = ModelDetailsPanel()
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(12, 10, 6, 8)
        left_layout.addLayout(actions)
        left_layout.addLayout(toolbar)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.status)
        splitter = QSplitter(Qt.Horizontal)
        splitter.addWidget(left)
        # The facts and buttons are taller than a 680-px screen leaves them: they scroll rather than push the
        # window past the screen.
        details_scroll = QScrollArea()
        details_scroll.setObjectName("detailsScroll")
        details_scroll.setWidget(self.details)
        details_scroll.setWidgetResizable(True)
        details_scroll.setFrameShape(QFrame.NoFrame)
        details_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        details_scroll.setMinimumWidth(self.details.minimumSizeHint().width())
        splitter.addWidget(details_scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([880, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.search.textChanged.connect(lambda t: self.proxy.set_filter(text=t))
        self.format_box.currentIndexChanged.connect(lambda: self.proxy.set_filter(fmt=self.format_box.currentData()))
        self.fit_box.currentIndexChanged.connect(lambda: self.proxy.set_filter(verdict=self.fit_box.currentData()))
        self.context_box.editingFinished.connect(self._context_changed)
        self.import_file_button.clicked.connect(self.choose_file)
        self.import_folder_button.clicked.connect(self.choose_hf_folder)
        self.add_folder_button.clicked.connect(self.choose_library_folder)
        self.rescan_button.clicked.connect(self.rescan)
        self.table.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.details.load_requested.connect(self.load_requested)
        self.details.unload_requested.connect(self.unload_requested)
        self.details.benchmark_requested.connect(self.benchmark_requested)
        self.details.default_requested.connect(self.set_default)
        self.details.rename_requested.connect(self.ask_rename)
        self.details.remove_requested.connect(self.ask_remove)
        self.refresh()

    # --- listing ---------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        selected = self.selected_id()
        self.model.refresh()
        if selected is None and self.model.rowCount():  # show something useful rather than an empty panel
            selected = next((r.id for r in map(self.model.row_at, range(self.model.rowCount())) if r.ref.is_default), None)
        self.select(selected)
        self.status.setText(f"{self.model.rowCount()} model(s). Drop a .gguf file or a model folder here to add it.")

    def rescan(self) -> None:
        """Look for new files in the models folder and the added folders, off the UI thread."""
        self.rescan_button.setEnabled(False)
        self.status.setText("Looking for models…")

        def work():
            with self.db.session() as session:
                return scan.scan(session)

        run_in_background(work, self._scanned, self._failed)

    def _scanned(self, report: scan.ScanReport) -> None:
        self.rescan_button.setEnabled(True)
        self.refresh()
        summary = f"Found {len(report.added)} new model(s)." if report.added else "No new models."
        if report.problems:
            summary += " Skipped: " + " · ".join(report.problems[:3])
        self.status.setText(summary)
        if report.added:
            self.library_changed.emit()

    def _failed(self, exc: BaseException) -> None:
        self.rescan_button.setEnabled(True)
        self.status.setText(str(exc))

    def _context_changed(self) -> None:
        if self.context_box.value() != self.model.n_ctx:
            self.model.set_context(self.context_box.value())
            self._selection_changed()

    def selected_id(self) -> int | None:
        index = self.table.currentIndex()
        row = self.model.row_at(self.proxy.mapToSource(index).row()) if index.isValid() else None
        return row.id if row else None

    def select(self, model_id: int | None) -> None:
        source_row = self.model.row_of(model_id) if model_id is not None else -1
        if source_row < 0:
            self.details.show_row(None)
            return
        index = self.proxy.mapFromSource(self.model.index(source_row, 0))
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows
        )
        self._selection_changed()

    @Slot()
    def _selection_changed(self, *_args) -> None:
        model_id = self.selected_id()
        self.details.show_row(self.model.row_at(self.model.row_of(model_id)) if model_id is not None else None)

    def set_loaded(self, model_id: int | None) -> None:
        self.model.set_loaded(model_id)
        self.details.set_loaded(model_id)

    # --- import ----------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.ask_import(paths)

    def choose_file(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import GGUF models", str(Path.home()), "GGUF models (*.gguf)")
        if files:
            self.ask_import([Path(f) for f in files])

    def choose_hf_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a Hugging Face model folder", str(Path.home()))
        if folder:
            self.ask_import([Path(folder)])

    def choose_library_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of models", str(Path.home()))
        if folder:
            self.add_library_folder(Path(folder))

    def add_library_folder(self, folder: Path) -> None:
        try:
            with self.db.session() as session:
                scan.add_folder(session, folder)
        except ValueError as exc:
            self.status.setText(str(exc))
            return
        self.rescan()

    def ask_import(self, paths: list[Path]) -> None:
        names = ", ".join(p.name for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        box = message_box(self, "Import models", f"Add {names} to your library?", QMessageBox.NoIcon)
        box.setInformativeText(
            "Copy puts a copy in Hearth's models folder (safe if the original moves). "
            "Use in place leaves the files where they are and saves the disk space."
        )
        copy = box.addButton("Copy into Hearth", QMessageBox.AcceptRole)
        in_place = box.addButton("Use in place", QMessageBox.AcceptRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        if box.clickedButton() in (copy, in_place):
            self.import_paths(paths, copy=box.clickedButton() is copy)

    def import_paths(self, paths: list[Path], *, copy: bool) -> None:
        """Import off the UI thread (a copy can take minutes); each file's problem is reported, none stops the rest."""
        self.status.setText(f"{'Copying' if copy else 'Adding'} {len(paths)} item(s)…")

        def work():
            added, problems = [], []
            for path in paths:
                try:
                    with self.db.session() as session:
                        if path.is_dir() and not is_hf_folder(path):
                            scan.add_folder(session, path)
                            added.extend(scan.scan(session).added)
                        else:
                            added.append(scan.import_model(session, path, copy=copy))
                except IMPORT_ERRORS as exc:
                    problems.append(str(exc))
            return added, problems

        run_in_background(work, self._imported, self._failed)

    def _imported(self, result) -> None:
        added, problems = result
        self.refresh()
        if added:
            self.select(added[-1].id)
            self.library_changed.emit()
        text = f"Added {', '.join(m.name for m in added)}." if added else "Nothing was added."
        if problems:
            text += " " + " ".join(problems)
        self.status.setText(text)

    # --- actions ---------------------------------------------------------------------------------------------
    def set_default(self, model_id: int) -> None:
        with self.db.session() as session:
            registry.set_default(session, model_id)
        self.refresh()
        self.library_changed.emit()

    def ask_rename(self, model_id: int) -> None:
        row = self.model.row_at(self.model.row_of(model_id))
        if row is None:
            return
        name, ok = QInputDialog.getText(self, "Rename model", "New name:", text=row.ref.name)
        if ok:
            self.rename(model_id, name)

    def rename(self, model_id: int, name: str) -> None:
        try:
            with self.db.session() as session:
                registry.rename_model(session, model_id, name)
        except (ValueError, LookupError) as exc:
            self.status.setText(str(exc))
            return
        self.refresh()
        self.library_changed.emit()

    def ask_remove(self, model_id: int) -> None:
        row = self.model.row_at(self.model.row_of(model_id))
        if row is None:
            return
        box = message_box(self, "Remove model", f"Remove {row.ref.name} from the library?", QMessageBox.NoIcon)
        box.setInformativeText("Conversations that used it are kept.")
        delete_files = QCheckBox(f"Also delete it from disk ({format_bytes(row.ref.size_bytes)}): {row.ref.path}")
        delete_files.setEnabled(row.ref.source != "starter" and row.ref.exists)
        box.setCheckBox(delete_files)
        remove = box.addButton("Remove", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        if box.clickedButton() is remove:
            self.remove(model_id, delete_files=delete_files.isChecked())

    def remove(self, model_id: int, *, delete_files: bool) -> None:
        """Take the model out of the library at once; its files go once the engine has let go of it."""
        try:
            removal = registry.forget_model(self.db, model_id, delete_files=delete_files)
        except (ValueError, LookupError, OSError) as exc:
            self.status.setText(str(exc))
            return
        self.refresh()
        self.library_changed.emit()
        if removal.files:
            self._awaiting_release[model_id] = removal
            self.status.setText(f"Removed {removal.name}. Its files are deleted as soon as it is unloaded…")
        else:
            self.status.setText(f"Removed {removal.name}. The files are still on disk.")
        self.release_requested.emit(model_id)  # a removed model does not stay loaded, files or not

    @Slot(int)
    def model_released(self, model_id: int) -> None:
        removal = self._awaiting_release.pop(model_id, None)
        if removal is None:
            return

        def deleted(paths: list[str]) -> None:
            self.status.setText(f"Removed {removal.name}. Deleted {', '.join(paths)}.")

        def failed(exc: BaseException) -> None:
            self.status.setText(str(exc))

        run_in_background(lambda: registry.delete_model_files(removal), deleted, failed)
