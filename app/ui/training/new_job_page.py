"""A new training job: what to learn from (with a preview), the base model, the assistant it makes the next version
of, the options, an estimate, Start."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PySide6.QtCore import QStringListModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.core.hardware.gpu import gpu_memories
from app.core.library.registry import get_model
from app.core.startup import Core
from app.core.training.assistant_names import default_assistant, next_version, version_name
from app.core.training.availability import TrainingSupport, training_support
from app.core.training.base_model import has_plain_copy
from app.core.training.dataset import BuiltDataset, DatasetError, DatasetSpec, build
from app.core.training.estimate import estimate_job
from app.core.training.examples import rated_api_replies, rated_conversations
from app.core.training.jobs import data_shape
from app.core.training.pace import pace_for
from app.core.training.preferences import EncodedPair, EncodedUnpaired
from app.core.training.tokenizer import TrainingTokenizer
from app.ui.background import run_in_background
from app.ui.models_list import MODEL_ID_ROLE, ModelListModel
from app.ui.plain_text import plain_label
from app.ui.training.dataset_preview import DatasetPreview
from app.ui.training.options_panel import JobOptionsPanel


def qlora_note() -> str:
    """Which method this machine can run, and why, without importing torch into the app."""
    if importlib.util.find_spec("bitsandbytes") is None:
        return "QLoRA needs bitsandbytes, which is not installed: LoRA will run."
    gpus = gpu_memories()
    if gpus:
        return f"QLoRA runs on {gpus[0].name} (4-bit base, least memory). LoRA runs there too."
    return ("No NVIDIA GPU: LoRA is recommended. QLoRA also runs on this CPU, but more slowly and with little "
            "memory saved for small models.")


def _section(title: str) -> QLabel:
    label = plain_label(title)
    label.setObjectName("sectionHeading")
    return label


def _shrinkable(box: QComboBox) -> None:
    """A combo box sized for a dozen characters at least, not for its longest item: the page must fit 1024 px."""
    box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(12)


def _unit_tokens(encoded: EncodedPair | EncodedUnpaired) -> int:
    sequences = (encoded.chosen, encoded.rejected) if isinstance(encoded, EncodedPair) else (encoded.encoded,)
    return sum(len(s.input_ids) for s in sequences)


def step_rows(built: BuiltDataset, uses_preferences: bool) -> tuple[int, float]:
    """What the estimate counts as a batch row: the worker takes a batch of examples to imitate and a batch of
    preference units (a pair is both its replies) in every step, and an epoch is as long as the larger of the two.
    Returns (rows in an epoch, mean tokens one row of both costs)."""
    lengths = [len(i.encoded.input_ids) for i in built.train]
    units = [_unit_tokens(p.encoded) for p in built.train_pref_items] if uses_preferences else []
    mean = (sum(lengths) / len(lengths) if lengths else 0.0) + (sum(units) / len(units) if units else 0.0)
    return max(len(lengths), len(units)), mean


class NewJobPage(QWidget):
    start_requested = Signal(object, dict, object, str, str)  # base ModelRef, options, DatasetSpec, name, assistant

    def __init__(self, core: Core, models: ModelListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.core = core
        self.built: BuiltDataset | None = None
        self.built_spec: DatasetSpec | None = None  # what the preview was built from
        self.building = False
        self._build_id = 0  # the newest build; an older one's result is stale when it lands
        self._rated = (0, 0)  # rated replies in chats and in API exchanges, as last counted
        self._rated_previewed: tuple[int, int] | None = None  # ... when the preview was built
        self._auto_previewed = False

        # -- 1. what to learn from --------------------------------------------------------------------------
        self.use_conversations = QCheckBox("My rated conversations")
        self.use_conversations.setChecked(True)
        self.use_conversations.toggled.connect(lambda _checked: self._invalidate())
        self.min_rating = QComboBox()
        self.min_rating.addItem("Thumbs-up replies and corrections", 1)
        self.min_rating.addItem("Corrections only", 2)
        self.min_rating.currentIndexChanged.connect(lambda _index: self._invalidate())
        _shrinkable(self.min_rating)
        self.conversation_counts = plain_label("")
        self.conversation_counts.setObjectName("hint")
        self.conversation_counts.setWordWrap(True)  # long counts wrap rather than widen the window past 1024 px
        # Replies other apps got through the API, kept ("Keep API conversations") and rated over /v1/hearth/feedback
        self.use_api = QCheckBox("Rated API exchanges")
        self.use_api.toggled.connect(lambda _checked: self._invalidate())
        self.file_paths: list[str] = []
        self.files = QStringListModel(self)
        self.files_view = QListView()
        self.files_view.setModel(self.files)
        self.files_view.setFixedHeight(52)
        add_file, remove_file = QPushButton("Add JSONL…"), QPushButton("Remove")
        add_file.clicked.connect(self._add_file)
        remove_file.clicked.connect(self._remove_file)
        self.writing = QLineEdit()
        self.writing.setPlaceholderText("A folder of your own .txt / .md writing (style)")
        self.writing.editingFinished.connect(self._writing_edited)
        choose_writing = QPushButton("Choose…")
        choose_writing.clicked.connect(self._choose_writing)
        self.preview_button = QPushButton("Preview dataset")
        # Not connected straight to preview(): clicked(bool) would hand it `checked` as an argument.
        self.preview_button.clicked.connect(lambda: self.preview())
        self.export_button = QPushButton("Export JSONL…")
        self.export_button.clicked.connect(self._export)
        self.export_button.setEnabled(False)
        self.preview_view = DatasetPreview()
        # The preview's parts, by the names the page has always had (tests and screenshots read them)
        self.summary = self.preview_view.summary
        self.histogram = self.preview_view.histogram
        self.examples = self.preview_view.examples
        self.problems = self.preview_view.problems
        self.problems_view = self.preview_view.problems_view
        self.pair_view = self.preview_view.pair_view

        left = QVBoxLayout()
        heading = QHBoxLayout()  # the preview's buttons beside the heading: the preview below gets their row
        heading.addWidget(_section("1 · WHAT TO LEARN FROM"), 1, Qt.AlignTop)
        heading.addWidget(self.preview_button)
        heading.addWidget(self.export_button)
        left.addLayout(heading)
        row = QHBoxLayout()
        row.addWidget(self.use_conversations)
        row.addWidget(self.min_rating, 1)
        left.addLayout(row)
        counts_row = QHBoxLayout()
        counts_row.addWidget(self.conversation_counts, 1)
        counts_row.addWidget(self.use_api)
        left.addLayout(counts_row)
        files_label = plain_label("JSONL files (OpenAI, ShareGPT or Alpaca; TRL preference pairs; detected per line)")
        files_label.setWordWrap(True)
        left.addWidget(files_label)
        files_row = QHBoxLayout()
        files_row.addWidget(self.files_view, 1)
        file_buttons = QVBoxLayout()
        file_buttons.addWidget(add_file)
        file_buttons.addWidget(remove_file)
        file_buttons.addStretch(1)
        files_row.addLayout(file_buttons)
        left.addLayout(files_row)
        writing_row = QHBoxLayout()
        writing_row.addWidget(self.writing, 1)
        writing_row.addWidget(choose_writing)
        left.addLayout(writing_row)
        left.addWidget(self.preview_view, 1)

        # -- 2. how to train --------------------------------------------------------------------------------
        self.base = QComboBox()
        self.base.setModel(models)
        _shrinkable(self.base)
        self.assistant = QLineEdit()
        self.assistant.setToolTip("Jobs for one assistant make its versions (v1, v2 …): each learns from the "
                                  "feedback given so far, and rolling back is picking an older version.")
        self.assistant.textChanged.connect(lambda _text: self._show_version())
        self.version_note = plain_label("")
        self.version_note.setObjectName("hint")
        self.options = JobOptionsPanel(qlora_note())
        self.method_note = self.options.method_note
        self.form = self.options.form
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QFrame.NoFrame)
        form_scroll.setWidget(self.options)
        self.estimate = plain_label("")
        self.estimate.setObjectName("estimate")
        self.estimate.setWordWrap(True)
        self.start_button = QPushButton("Start training")
        self.start_button.setObjectName("primaryButton")
        self.start_button.clicked.connect(lambda: self._start())
        self.support = TrainingSupport((), None)
        self.setup_note = plain_label("")  # what this install lacks for training, with the command that adds it
        self.setup_note.setObjectName("setupAlert")
        self.setup_note.setWordWrap(True)
        self.setup_note.setTextInteractionFlags(Qt.TextSelectableByMouse)  # the command can be copied
        self.recheck_button = QPushButton("Check again")
        self.recheck_button.setToolTip("After installing, check again without restarting Hearth.")
        self.recheck_button.clicked.connect(lambda: self.check_support())
        right = QVBoxLayout()
        right.addWidget(_section("2 · HOW TO TRAIN"))
        grid = QGridLayout()
        grid.addWidget(plain_label("Base model"), 0, 0)
        grid.addWidget(self.base, 0, 1)
        grid.addWidget(plain_label("Assistant"), 1, 0)
        grid.addWidget(self.assistant, 1, 1)
        grid.addWidget(self.version_note, 2, 1)
        grid.setColumnStretch(1, 1)
        grid.setVerticalSpacing(4)
        right.addLayout(grid)
        right.addWidget(form_scroll, 1)
        right.addWidget(self.estimate)
        right.addWidget(self.setup_note)
        start_row = QHBoxLayout()
        start_row.addWidget(self.recheck_button)
        start_row.addWidget(self.start_button, 1)
        right.addLayout(start_row)

        left.setSpacing(4)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 4, 16, 8)
        layout.setSpacing(20)
        layout.addLayout(left, 3)
        layout.addLayout(right, 2)
        self.options.changed.connect(self._options_changed)
        self.base.currentIndexChanged.connect(self._base_changed)
        self.refresh_counts()
        self.check_support()

    def check_support(self) -> TrainingSupport:
        """Start is offered only when the training packages are installed; otherwise the page says what to run."""
        self.support = training_support()
        self.setup_note.setText(self.support.message())
        self.setup_note.setVisible(not self.support.ready)
        self.recheck_button.setVisible(not self.support.ready)
        self.start_button.setEnabled(self.support.ready)
        self.start_button.setToolTip("" if self.support.ready else self.support.message())
        return self.support

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.check_support()  # installed (or removed) in a terminal meanwhile? A few milliseconds.
        self.refresh_counts()
        if not any(self._rated) or self.building:
            return
        # The rated replies are what a person came to train on: show them at once, and again once more were rated
        first = self.built is None and not self._auto_previewed
        if first or (self.built is not None and self._rated_previewed != self._rated):
            self._auto_previewed = True
            self.preview()

    # -- sources ----------------------------------------------------------------------------------------------
    def refresh_counts(self) -> None:
        with self.core.db.session() as session:
            rated = rated_conversations(session)
            api = rated_api_replies(session)
        self.use_api.setText(f"Rated API exchanges ({api})")
        replies = sum(n for _, _, n in rated)
        self._rated = (replies, api)
        self.conversation_counts.setText(
            f"{replies} rated repl{'y' if replies == 1 else 'ies'} in {len(rated)} conversation"
            f"{'' if len(rated) == 1 else 's'}." if rated else
            "No rated replies yet: use ▲ Good / ▼ Bad, “Correct…” and regenerate under replies in Chat."
        )
        self._refresh_assistant()

    def _add_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add training data", str(Path.home()),
                                                "JSON Lines (*.jsonl *.json)")
        self.add_files(paths)

    def add_files(self, paths: list[str]) -> None:
        self.file_paths += [p for p in paths if p not in self.file_paths]
        self.files.setStringList([Path(p).name for p in self.file_paths])  # names; the paths are kept here
        self.files_view.setToolTip("\n".join(self.file_paths))
        self._invalidate()

    def _remove_file(self) -> None:
        index = self.files_view.currentIndex()
        if index.isValid():
            del self.file_paths[index.row()]
            self.files.removeRow(index.row())
            self._invalidate()

    def _choose_writing(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of your writing", str(Path.home()))
        if folder:
            self.writing.setText(folder)
            self._invalidate()

    def _writing_edited(self) -> None:
        if self.built_spec is not None and self.spec() != self.built_spec:
            self._invalidate()

    def spec(self) -> DatasetSpec:
        options = self.form.values()
        return DatasetSpec(
            conversations=self.use_conversations.isChecked(), min_rating=self.min_rating.currentData(),
            api_conversations=self.use_api.isChecked(),
            jsonl_files=list(self.file_paths), writing_folder=self.writing.text().strip() or None,
            max_length=options["max_length"], overflow=options["overflow"], seed=options["seed"],
        )

    def base_model(self):
        model_id = self.base.currentData(MODEL_ID_ROLE)
        with self.core.db.session() as session:
            return get_model(session, model_id) if model_id is not None else None

    # -- the assistant ----------------------------------------------------------------------------------------
    def _refresh_assistant(self) -> None:
        """The assistant last trained on this base, unless a person typed another name."""
        if self.assistant.isModified() and self.assistant.text().strip():
            self._show_version()
            return
        base = self.base_model()
        with self.core.db.session() as session:
            name = default_assistant(session, base.id if base is not None else None)
        self.assistant.setText(name)
        self.assistant.setModified(False)
        self._show_version()

    def assistant_name(self) -> str:
        return self.assistant.text().strip() or self.assistant.placeholderText()

    def next_version_name(self) -> str:
        name = self.assistant_name()
        with self.core.db.session() as session:
            return version_name(name, next_version(session, name))

    def _show_version(self) -> None:
        self.assistant.setPlaceholderText("My assistant")
        self.version_note.setText(f"This job trains {self.next_version_name()}.")

    @Slot()
    def _base_changed(self) -> None:
        self._refresh_assistant()
        self._invalidate()

    # -- preview ----------------------------------------------------------------------------------------------
    @Slot()
    def _invalidate(self) -> None:
        if self.building:  # what is being built no longer matches the sources: its answer will be dropped
            self._build_id += 1
            self._finish_building()
            self.preview_view.clear("The sources changed: press Preview to see what the assistant will learn from.")
        self.built = None
        self.built_spec = None
        self.export_button.setEnabled(False)
        self._update_estimate()

    @Slot()
    def _options_changed(self) -> None:
        if self.built_spec is not None and self.spec() != self.built_spec:
            self._invalidate()  # the maximum length, overflow or seed changed: the preview no longer holds
        else:
            self._update_estimate()

    def preview(self) -> None:
        """Build the dataset in the background and show its counts, pairs, examples, lengths and problems."""
        self._build_dataset(then=None)

    def _build_dataset(self, then) -> None:
        base = self.base_model()
        if base is None:
            self.summary.setText("Pick a base model first (add one in Models).")
            return
        spec, db = self.spec(), self.core.db
        self._build_id += 1
        build_id = self._build_id
        self._rated_previewed = self._rated
        self.building = True
        self.preview_button.setEnabled(False)
        self.summary.setText("Building the dataset…")

        def work():
            tokenizer = TrainingTokenizer.for_model(base.path, base.format)
            with db.session() as session:
                return build(spec, tokenizer, session), tokenizer

        def done(result):
            if build_id != self._build_id:
                return  # a newer build is on its way: this one answers a question no longer asked
            self._show(*result, spec)
            if then is not None:
                then()

        def failed(error):
            if build_id == self._build_id:
                self._failed(error)

        run_in_background(work, done, failed)

    def _finish_building(self) -> None:
        self.building = False
        self.preview_button.setEnabled(True)

    def _failed(self, error: BaseException) -> None:
        self._finish_building()
        self.built = self.built_spec = None
        message = (str(error) if isinstance(error, (DatasetError, FileNotFoundError, ValueError))
                   else f"The dataset could not be built: {error}")
        self.preview_view.show_error(message, getattr(error, "problems", []))
        self._update_estimate()

    def _show(self, built: BuiltDataset, tokenizer: TrainingTokenizer, spec: DatasetSpec) -> None:
        self._finish_building()
        self.built, self.built_spec = built, spec
        self.export_button.setEnabled(True)
        self.preview_view.show_dataset(built, tokenizer)
        self._update_estimate()

    def _export(self) -> None:
        if self.built is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export dataset", str(Path.home() / "hearth-dataset.jsonl"),
                                              "JSON Lines (*.jsonl)")
        if path:
            count = self.built.write_jsonl(Path(path))
            self.summary.setText(f"{self.built.summary()}\nExported {count} lines (examples, then preferences) to "
                                 f"{path}.")

    # -- estimate and start -----------------------------------------------------------------------------------
    @Slot()
    def _update_estimate(self) -> None:
        base = self.base_model()
        uses_preferences = self.form.values()["objective"] != "sft"
        shape = data_shape(self.built, uses_preferences) if self.built is not None else None
        params = (base.info.get("parameters") or None) if base is not None else None
        options = self.options.fit(shape, params)
        if base is None or self.built is None:
            self.estimate.setText("The estimate of time and memory appears after a preview.")
            self.estimate.setProperty("warning", False)
            return
        with self.core.db.session() as session:
            pace = pace_for(session, base.id, options["method"])
        converts = base.format == "gguf" and not has_plain_copy(Path(base.path), paths.cache_dir())
        rows, tokens = step_rows(self.built, uses_preferences)
        est = estimate_job(base.info, options, rows, tokens, pace=pace, converts=converts, on_gpu=bool(gpu_memories()))
        self.estimate.setText(est.explain())
        self.estimate.setProperty("warning", not est.fits)
        self.estimate.style().unpolish(self.estimate)
        self.estimate.style().polish(self.estimate)

    def _start(self) -> None:
        if not self.check_support().ready:
            return
        base = self.base_model()
        if base is None:
            self.summary.setText("Pick a base model first.")
            return
        if self.built is None:
            self._build_dataset(then=self._start)  # build first; start once the preview is in
            return
        options = self.options.given()
        if not self.built.train and self.form.values()["objective"] == "sft":
            self.summary.setText("There are only preferences here (pairs and thumbs-down replies), no replies to "
                                 "imitate: set “Learn from” to learn preferences too, or add thumbs-up replies or "
                                 "corrections.")
            return
        assistant = self.assistant_name()
        self.start_requested.emit(base, options, self.spec(), self.next_version_name(), assistant)
        self.assistant.setModified(False)
        self._show_version()
