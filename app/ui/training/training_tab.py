"""The Training tab: a new job, the jobs (live and past, with their curves), and the assistants with the versions
(adapters) those jobs produced; above them, the nudge to train the next version.

Built on first show (pyqtgraph and the training modules are not needed for the window to appear), but the job
controller and the nudge start with the window: jobs left running by a previous session are picked up at once, and
the status bar can suggest the next version before the tab was ever opened.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, Qt, Signal, Slot
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.core.startup import Core
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.availability import training_support
from app.ui.background import run_in_background
from app.ui.models_list import ModelListModel
from app.ui.plain_text import confirm, inform, warn
from app.ui.tables import row_table
from app.ui.training.job_controller import JobController
from app.ui.training.nudge_watch import TrainingNudge


class TrainingTab(QWidget):
    use_adapter_requested = Signal(int)  # adapter id: the chat should answer through it
    job_started = Signal(int, int)  # job id, pid
    library_changed = Signal()  # a merged model was added to the library
    note_posted = Signal(str)  # a passing word for the status bar (a version started unasked, or why it did not)

    def __init__(self, core: Core, models: ModelListModel, engine=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.core, self.models, self.engine = core, models, engine
        self.controller = JobController(core.db, self)
        self.controller.job_event.connect(self._on_event)
        self.controller.job_ended.connect(self._on_ended)
        self.controller.job_started.connect(self.job_started)
        self.nudge = TrainingNudge(core.db, core.settings, self.controller, self)
        self.nudge.changed.connect(self._show_nudge)
        self.nudge.auto_train_due.connect(lambda assistant: self.train_next_version(assistant, automatic=True))
        if engine is not None:
            engine.worker.state_changed.connect(self.nudge.on_engine_state)
        self.nudge.refresh_soon()
        self.adapter_in_use = ""  # the adapter the chat on screen answers through, by name
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
        from app.ui.training.assistant_card import AssistantsPage
        from app.ui.training.live_view import LiveView
        from app.ui.training.new_job_page import NewJobPage
        from app.ui.training.nudge_bar import NudgeBar
        from app.ui.training.training_models import JobsModel

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

        self.assistants_page = AssistantsPage(self.core.db)
        self.assistants_page.versions.edit_failed.connect(lambda message: warn(self, "Adapter", message))
        self.assistants_page.use_requested.connect(self.use_adapter_requested)
        self.assistants_page.ab_requested.connect(self.open_ab)
        self.assistants_page.export_requested.connect(self.open_export)
        self.assistants_page.remove_requested.connect(self._remove_adapter)
        self.assistants_page.versions.set_in_use(self.adapter_in_use)
        # The names the rest of the window and its tests know the adapter list by.
        self.adapters = self.assistants_page.versions
        self.adapters_view = self.assistants_page.view
        self.adapter_buttons = self.assistants_page.buttons
        self.adapters_hint = self.assistants_page.hint
        self.nudge_bar = NudgeBar()
        self.nudge_bar.train_requested.connect(lambda: self.train_next_version())
        self.nudge_bar.show_nudge(self.nudge.current)
        self.layout_.addWidget(self.nudge_bar)

        self.pages = QTabWidget()
        self.pages.setObjectName("subTabs")
        self.pages.addTab(self.new_job, "New job")
        self.pages.addTab(jobs_page, "Jobs")
        self.pages.addTab(self.assistants_page, "Adapters")
        self.layout_.addWidget(self.pages)
        self.live.show_nothing(has_jobs=self.jobs.rowCount() > 0)
        running = [job_id for job_id in self.controller.followers]
        if running:
            self.pages.setCurrentIndex(1)
            self.select_job(running[0])

    # -- jobs -----------------------------------------------------------------------------------------------
    def start_job(self, base, options: dict, spec, name: str, assistant: str | None = None,
                  built=None) -> int | None:
        """Create the job and start its child; `built` is the dataset (the New job page's preview when not given).
        `assistant` names whose next version it trains. None (after telling the person why) when it cannot start."""
        try:
            return self._create_and_start(base, options, spec, name, assistant,
                                          built if built is not None else self.new_job.built)
        except (RuntimeError, ValueError) as exc:  # no process; options or data the job cannot run with
            warn(self, "Training", str(exc))
            return None

    def _create_and_start(self, base, options: dict, spec, name: str, assistant: str | None, built) -> int:
        from app.core.training.jobs import create_job, mark_ended

        with self.core.db.session() as session:
            job = create_job(session, base, options, spec, built, name=name or None, assistant=assistant)
        try:
            self.controller.start(job.id)
        except RuntimeError as exc:  # not left queued: a queued job would hold the nudge back for good
            with self.core.db.session() as session:
                mark_ended(session, job.id, JobStatus.FAILED, str(exc))
            raise
        if self.pages is not None:
            self.jobs.refresh()
            self.pages.setCurrentIndex(1)
            self.select_job(job.id)
        return job.id

    def train_next_version(self, assistant: str | None = None, automatic: bool = False) -> bool:
        """One click on "Train v3" (or the idle computer, when the person opted in): the assistant's next version
        with the last job's settings on every rated reply. The dataset is built in the background, then the job
        starts as one from the New job page does. False when it cannot start (and the person is told why)."""
        from app.core.training.versions import next_job_settings

        assistant = assistant or (self.nudge.current.assistant if self.nudge.current is not None else None)
        support = training_support()
        problem = None
        if not support.ready:
            problem = support.message()
        elif self.nudge.job_running():
            problem = "A training job is already running; the next version can start when it ends."
        elif assistant is None:
            problem = "There is no assistant to train a new version of yet: start one on the New job page."
        if problem is None:
            try:
                with self.core.db.session() as session:
                    following = next_job_settings(session, assistant)
            except LookupError as exc:
                problem = str(exc)
        if problem is not None:
            self._tell(problem, automatic)
            return False
        self.nudge.preparing = True
        self.nudge.refresh()  # the nudge goes while its job is prepared and runs
        if automatic:
            self.note_posted.emit(f"The computer is idle: training {following.name} on the replies rated since "
                                  f"v{following.number - 1} (turn this off in Settings, Training).")
        db = self.core.db

        def work():
            from app.core.training.dataset import build
            from app.core.training.tokenizer import TrainingTokenizer

            tokenizer = TrainingTokenizer.for_model(following.base.path, following.base.format)
            with db.session() as session:
                return build(following.spec, tokenizer, session)

        def done(built) -> None:
            try:
                self._create_and_start(following.base, following.options, following.spec, following.name,
                                       following.assistant, built)
            except Exception as exc:  # noqa: BLE001 - told to the person, like a dataset that could not be built
                failed(exc)
            else:
                self.nudge.preparing = False

        def failed(error: BaseException) -> None:
            self.nudge.preparing = False
            self.nudge.refresh()
            self._tell(f"{following.name} could not start: {error}", automatic)

        run_in_background(work, done, failed)
        return True

    def _tell(self, text: str, automatic: bool) -> None:
        """Unasked work never opens a dialog: its word goes to the status bar."""
        if automatic:
            self.note_posted.emit(text)
        else:
            warn(self, "Training", text)

    @Slot(object)
    def _show_nudge(self, nudge) -> None:
        if self.pages is not None:
            self.nudge_bar.show_nudge(nudge)

    def show_live_job(self) -> None:
        """The Jobs page with a running job on it (for the status bar's "Training …" link)."""
        running = list(self.controller.followers)
        if self.pages is not None and running:
            self.pages.setCurrentIndex(1)
            self.select_job(running[0])

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
    @Slot(str)
    def set_adapter_in_use(self, adapter_name: str) -> None:
        """The adapter the conversation on screen answers through (its name; "" for the base model): marked in the
        versions list."""
        self.adapter_in_use = adapter_name
        if self.pages is not None:
            self.adapters.set_in_use(adapter_name)

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

    def _adapter_with_base(self, adapter_id: int | None, title: str):
        """The selected (or given) adapter and its base model, or None after telling the user why not."""
        from app.core.library.registry import get_model
        from app.core.storage.models import Adapter
        from app.core.training.adapters import ref_of

        adapter_id = adapter_id or self.assistants_page.selected_id()
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

    @Slot(int)
    def _remove_adapter(self, adapter_id: int) -> None:
        from app.core.training.adapters import remove_adapter

        if confirm(self, "Remove adapter", "Forget this version? Its files stay in the job's run folder, and "
                   "replies it wrote keep its name."):
            with self.core.db.session() as session:
                remove_adapter(session, adapter_id)
            self.adapters.refresh()
            self.nudge.refresh()  # the assistant's latest version may have changed

    def shutdown(self) -> None:
        self.controller.shutdown()
