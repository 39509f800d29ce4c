"""The Training tab: a new job, the jobs (live and past, with their curves), and the adapters they produced.

Built on first show (pyqtgraph and the training modules are not needed for the window to appear), but the job
controller starts with the window so that jobs left running by a previous session are picked up at once.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.startup import Core
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.availability import training_support
from app.ui.models_list import ModelListModel
from app.ui.plain_text import confirm, inform, plain_label, warn
from app.ui.tables import row_table
from app.ui.training.job_controller import JobController


class TrainingTab(QWidget):
    use_adapter_requested = Signal(int)  # adapter id: the chat should answer through it
    job_started = Signal(int, int)  # job id, pid
    library_changed = Signal()  # a merged model was added to the library

    def __init__(self, core: Core, models: ModelListModel, engine=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.core, self.models, self.engine = core, models, engine
        self.controller = JobController(core.db, self)
        self.controller.job_event.connect(self._on_event)
        self.controller.job_ended.connect(self._on_ended)
        self.controller.job_started.connect(self.job_started)
        self.pages: QTabWidget | None = None
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)

    def reattach(self) -> list[int]:
        return self.controller.reattach_all()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.pages is None:
            self._build()

    def _build(self) -> None:
        from app.ui.training.live_view import LiveView
        from app.ui.training.new_job_page import NewJobPage
        from app.ui.training.training_models import AdaptersModel, JobsModel

        self.new_job = NewJobPage(self.core, self.models)
        self.new_job.start_requested.connect(self.start_job)
        self.jobs = JobsModel(self.core.db, self)
        self.jobs_view = row_table(self.jobs)
        self.jobs_view.selectionModel().currentRowChanged.connect(lambda *_: self._show_selected_job())
        self.live = LiveView()
        self.live.cancel_requested.connect(self.cancel_job)
        self.live.resume_requested.connect(self.resume_job)
        self.live.use_requested.connect(self._use_job_adapter)
        jobs_page = QSplitter(Qt.Horizontal)
        jobs_page.addWidget(self.jobs_view)
        jobs_page.addWidget(self.live)
        jobs_page.setSizes([560, 720])  # the list keeps room for a job's name at 1024 px wide

        self.adapters = AdaptersModel(self.core.db, self)
        self.adapters_view = row_table(self.adapters)
        self.adapters_view.setEditTriggers(QAbstractItemView.DoubleClicked | QAbstractItemView.EditKeyPressed)
        header = self.adapters_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(self.adapters.COLUMNS) - 1, QHeaderView.Stretch)  # the notes
        self.adapters.edit_failed.connect(lambda message: warn(self, "Adapter", message))
        use, compare, remove = QPushButton("Use in chat"), QPushButton("A/B test…"), QPushButton("Remove")
        export = QPushButton("Export…")
        export.setToolTip("Merge the adapter into a copy of its base model (GGUF or safetensors) for other apps.")
        export.clicked.connect(lambda: self.open_export())
        use.setObjectName("primaryButton")
        use.clicked.connect(self._use_selected_adapter)
        compare.clicked.connect(lambda: self.open_ab())
        compare.setToolTip("Send one prompt to the base model and to the adapter; pick the better answer blind.")
        remove.clicked.connect(self._remove_selected_adapter)
        self.adapter_buttons = (use, compare, export, remove)
        self.adapters_hint = plain_label("")
        self.adapters_hint.setObjectName("hint")
        self.adapters_hint.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.adapters_hint, 1)
        for button in self.adapter_buttons:
            buttons.addWidget(button)
        self.adapters.modelReset.connect(self._update_adapter_buttons)
        self.adapters_view.selectionModel().selectionChanged.connect(lambda *_: self._update_adapter_buttons())
        adapters_page = QWidget()
        adapters_layout = QVBoxLayout(adapters_page)
        adapters_layout.addLayout(buttons)
        adapters_layout.addWidget(self.adapters_view, 1)

        self.pages = QTabWidget()
        self.pages.setObjectName("subTabs")
        self.pages.addTab(self.new_job, "New job")
        self.pages.addTab(jobs_page, "Jobs")
        self.pages.addTab(adapters_page, "Adapters")
        self.layout_.addWidget(self.pages)
        self.live.show_nothing(has_jobs=self.jobs.rowCount() > 0)
        self._update_adapter_buttons()
        running = [job_id for job_id in self.controller.followers]
        if running:
            self.pages.setCurrentIndex(1)
            self.select_job(running[0])

    # -- jobs -----------------------------------------------------------------------------------------------
    @Slot(object, dict, object, str)
    def start_job(self, base, options: dict, spec, name: str) -> int | None:
        from app.core.training.jobs import create_job

        built = self.new_job.built
        with self.core.db.session() as session:
            job = create_job(session, base, options, spec, built, name=name or None)
        try:
            self.controller.start(job.id)
        except RuntimeError as exc:
            warn(self, "Training", str(exc))
            return None
        self.jobs.refresh()
        self.pages.setCurrentIndex(1)
        self.select_job(job.id)
        return job.id

    def select_job(self, job_id: int) -> None:
        self._mark_row(job_id)
        self._show_selected_job()

    def _mark_row(self, job_id: int | None) -> None:
        """Select the job's row without re-showing it (after the list was refreshed)."""
        row = self.jobs.row_of(job_id)
        if row < 0:
            return
        selection = self.jobs_view.selectionModel()
        selection.blockSignals(True)
        selection.setCurrentIndex(self.jobs.index(row, 0), QItemSelectionModel.ClearAndSelect | QItemSelectionModel.Rows)
        selection.blockSignals(False)
        self.jobs_view.viewport().update()

    def _refresh_jobs(self) -> None:
        self.jobs.refresh()
        self._mark_row(self.live.job_id)

    def _selected_job_id(self) -> int | None:
        job = self.jobs.row_at(self.jobs_view.currentIndex().row())
        return job.id if job else None

    def _show_selected_job(self) -> None:
        job_id = self._selected_job_id()
        if job_id is None:
            return
        with self.core.db.session() as session:
            job = session.get(TrainingJob, job_id)
            if job is not None:
                self.live.show_job(job, self.controller.is_running(job_id), self.controller.is_starting(job_id))

    @Slot(int)
    def cancel_job(self, job_id: int) -> None:
        self.controller.cancel(job_id)

    @Slot(int)
    def resume_job(self, job_id: int) -> None:
        support = training_support()
        if not support.ready:
            warn(self, "Training", support.message())
            return
        self.controller.start(job_id, resume=True)
        self.jobs.refresh()
        self.select_job(job_id)

    @Slot(int, object)
    def _on_event(self, job_id: int, event: dict) -> None:
        if self.pages is None:
            return
        if job_id == self.live.job_id:
            self.live.add_event(event)
        if event["event"] in ("started", "step", "eval"):
            self._refresh_jobs()  # the list's progress and eval columns (a small query, once a step at most)

    @Slot(int, str)
    def _on_ended(self, job_id: int, status: str) -> None:
        if self.pages is None:
            return
        self._refresh_jobs()
        self.adapters.refresh()
        if job_id == self.live.job_id:
            with self.core.db.session() as session:
                job = session.get(TrainingJob, job_id)
                self.live.show_job(job, False)
        if status == JobStatus.DONE:
            self.new_job.refresh_counts()

    # -- adapters -------------------------------------------------------------------------------------------
    def _update_adapter_buttons(self) -> None:
        """Use, A/B, Export and Remove act on the selected adapter: enabled only while one is selected."""
        selected = self._selected_adapter_id() is not None and self.adapters_view.selectionModel().hasSelection()
        for button in self.adapter_buttons:
            button.setEnabled(selected)
        if not self.adapters.rowCount():
            text = "No adapters yet: every finished job leaves one here. Train one on the New job page."
        elif not selected:
            text = "Select an adapter to use it in chat, compare it with its base model (A/B), export or remove it."
        else:
            text = ("“Use in chat” applies the adapter to the current conversation (Remove there goes back to the "
                    "base model). Double-click a name or the notes to edit them.")
        self.adapters_hint.setText(text)

    def _adapter_of_job(self, job_id: int) -> int | None:
        from sqlalchemy import select

        from app.core.storage.models import Adapter

        with self.core.db.session() as session:
            return session.scalar(select(Adapter.id).where(Adapter.job_id == job_id))

    @Slot(int)
    def _use_job_adapter(self, job_id: int) -> None:
        adapter_id = self._adapter_of_job(job_id)
        if adapter_id is not None:
            self.use_adapter_requested.emit(adapter_id)

    def _selected_adapter_id(self) -> int | None:
        ref = self.adapters.row_at(self.adapters_view.currentIndex().row())
        return ref.id if ref else None

    def _use_selected_adapter(self) -> None:
        adapter_id = self._selected_adapter_id()
        if adapter_id is not None:
            self.use_adapter_requested.emit(adapter_id)

    def _adapter_with_base(self, adapter_id: int | None, title: str):
        """The selected (or given) adapter and its base model, or None after telling the user why not."""
        from app.core.library.registry import get_model
        from app.core.storage.models import Adapter
        from app.core.training.adapters import ref_of

        adapter_id = adapter_id or self._selected_adapter_id()
        if adapter_id is None:
            return None
        with self.core.db.session() as session:
            row = session.get(Adapter, adapter_id)
            base = get_model(session, row.base_model_id) if row and row.base_model_id else None
            ref = ref_of(row) if row else None
        if base is None:
            inform(self, title, "The adapter's base model is no longer in the library; add it again to use the "
                   "adapter with it.")
            return None
        return ref, base

    def open_ab(self, adapter_id: int | None = None):
        """The blind comparison for the selected (or given) adapter; returns the dialog (tests drive it)."""
        from app.ui.training.ab_dialog import ABDialog

        found = self._adapter_with_base(adapter_id, "A/B test") if self.engine is not None else None
        if found is None:
            return None
        ref, base = found
        dialog = ABDialog(self.core.db, self.engine, base, ref, self)
        dialog.verdict_recorded.connect(lambda *_: self.adapters.refresh())
        dialog.show()
        return dialog

    def open_export(self, adapter_id: int | None = None):
        """The merge-and-export dialog for the selected (or given) adapter; returns it (tests drive it)."""
        from app.ui.training.export_dialog import ExportDialog

        found = self._adapter_with_base(adapter_id, "Export")
        if found is None:
            return None
        ref, base = found
        dialog = ExportDialog(ref.id, ref.name, base, self)
        dialog.exported.connect(lambda model_id: model_id and self.library_changed.emit())
        dialog.show()
        return dialog

    def _remove_selected_adapter(self) -> None:
        from app.core.training.adapters import remove_adapter

        adapter_id = self._selected_adapter_id()
        if adapter_id is None:
            return
        if confirm(self, "Remove adapter", "Forget this adapter? Its files stay in the job's run folder, and "
                   "replies it wrote keep its name."):
            with self.core.db.session() as session:
                remove_adapter(session, adapter_id)
            self.adapters.refresh()

    def shutdown(self) -> None:
        self.controller.shutdown()
