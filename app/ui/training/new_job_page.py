"""A new training job: what to learn from (with a preview), the base model, the options, an estimate, Start."""

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
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import paths
from app.core.hardware.gpu import gpu_memories
from app.core.library.registry import get_model
from app.core.startup import Core
from app.core.training.availability import TrainingSupport, training_support
from app.core.training.base_model import has_plain_copy
from app.core.training.dataset import BuiltDataset, DatasetError, DatasetSpec, build
from app.core.training.estimate import estimate_job
from app.core.training.pace import pace_for
from app.core.training.examples import rated_api_replies, rated_conversations
from app.core.training.options import TRAINING_OPTIONS
from app.core.training.tokenizer import TrainingTokenizer
from app.ui.background import run_in_background
from app.ui.models_list import MODEL_ID_ROLE, ModelListModel
from app.ui.option_form import OptionForm
from app.ui.plain_text import plain_label

EXAMPLES_SHOWN = 3


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

class NewJobPage(QWidget):
    start_requested = Signal(object, dict, object, str)  # base ModelRef, options, DatasetSpec, name

    def __init__(self, core: Core, models: ModelListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.core = core
        self.built: BuiltDataset | None = None
        self.building = False

        # -- 1. what to learn from --------------------------------------------------------------------------
        self.use_conversations = QCheckBox("My rated conversations")
        self.use_conversations.setChecked(True)
        self.min_rating = QComboBox()
        self.min_rating.addItem("Thumbs-up replies and corrections", 1)
        self.min_rating.addItem("Corrections only", 2)
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
        choose_writing = QPushButton("Choose…")
        choose_writing.clicked.connect(self._choose_writing)
        self.preview_button = QPushButton("Preview dataset")
        # Not connected straight to preview(): clicked(bool) would hand it `checked` as an argument.
        self.preview_button.clicked.connect(lambda: self.preview())
        self.export_button = QPushButton("Export JSONL…")
        self.export_button.clicked.connect(self._export)
        self.export_button.setEnabled(False)
        self.summary = plain_label("Press Preview to see what the assistant will learn from.")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.histogram = plain_label("")
        self.histogram.setObjectName("histogram")
        self.examples = QPlainTextEdit()
        self.examples.setReadOnly(True)
        self.examples.setObjectName("examplePreview")
        self.examples.setMinimumHeight(60)
        self.problems = QStringListModel(self)
        self.problems_view = QListView()
        self.problems_view.setModel(self.problems)
        self.problems_view.setObjectName("problemList")
        self.problems_view.setFixedHeight(48)
        self.problems_view.hide()

        left = QVBoxLayout()
        left.addWidget(_section("1 · WHAT TO LEARN FROM"))
        row = QHBoxLayout()
        row.addWidget(self.use_conversations)
        row.addWidget(self.min_rating, 1)
        left.addLayout(row)
        counts_row = QHBoxLayout()
        counts_row.addWidget(self.conversation_counts, 1)
        counts_row.addWidget(self.use_api)
        left.addLayout(counts_row)
        files_label = plain_label("JSONL files (OpenAI, ShareGPT or Alpaca; detected per line)")
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
        preview_row = QHBoxLayout()
        preview_row.addWidget(self.preview_button)
        preview_row.addWidget(self.export_button)
        preview_row.addStretch(1)
        left.addLayout(preview_row)
        left.addWidget(self.summary)
        left.addWidget(self.histogram)
        left.addWidget(self.examples, 1)
        left.addWidget(self.problems_view)

        # -- 2. how to train --------------------------------------------------------------------------------
        self.base = QComboBox()
        self.base.setModel(models)
        _shrinkable(self.base)
        self.method_note = plain_label(qlora_note())
        self.method_note.setObjectName("hint")
        self.method_note.setWordWrap(True)
        self.form = OptionForm(TRAINING_OPTIONS)
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setFrameShape(QFrame.NoFrame)
        form_scroll.setWidget(self.form)
        self.estimate = plain_label("")
        self.estimate.setObjectName("estimate")
        self.estimate.setWordWrap(True)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Name (optional), e.g. “My writing style”")
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
        base_row = QGridLayout()
        base_row.addWidget(plain_label("Base model"), 0, 0)
        base_row.addWidget(self.base, 0, 1)
        right.addLayout(base_row)
        right.addWidget(self.method_note)
        right.addWidget(form_scroll, 1)
        right.addWidget(self.estimate)
        right.addWidget(self.name)
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
        self.form.changed.connect(self._update_estimate)
        self.base.currentIndexChanged.connect(self._invalidate)
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

    # -- sources ----------------------------------------------------------------------------------------------
    def refresh_counts(self) -> None:
        with self.core.db.session() as session:
            rated = rated_conversations(session)
            api = rated_api_replies(session)
        self.use_api.setText(f"Rated API exchanges ({api})")
        replies = sum(n for _, _, n in rated)
        self.conversation_counts.setText(
            f"{replies} rated repl{'y' if replies == 1 else 'ies'} in {len(rated)} conversation"
            f"{'' if len(rated) == 1 else 's'}." if rated else
            "No rated replies yet: use ▲ Good / ▼ Bad and “Correct…” under replies in Chat."
        )

    def _add_file(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add training data", str(Path.home()), "JSON Lines (*.jsonl *.json)")
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

    # -- preview ----------------------------------------------------------------------------------------------
    @Slot()
    def _invalidate(self) -> None:
        self.built = None
        self.export_button.setEnabled(False)
        self._update_estimate()

    def preview(self) -> None:
        """Build the dataset in the background and show its counts, lengths, examples and problems."""
        self._build_dataset(then=None)

    def _build_dataset(self, then) -> None:
        base = self.base_model()
        if base is None:
            self.summary.setText("Pick a base model first (add one in Models).")
            return
        spec, db = self.spec(), self.core.db
        self.building = True
        self.preview_button.setEnabled(False)
        self.summary.setText("Building the dataset…")

        def work():
            tokenizer = TrainingTokenizer.for_model(base.path, base.format)
            with db.session() as session:
                return build(spec, tokenizer, session), tokenizer

        def done(result):
            self._show(*result)
            if then is not None:
                then()

        run_in_background(work, done, self._failed)

    def _finish_building(self) -> None:
        self.building = False
        self.preview_button.setEnabled(True)

    def _failed(self, error: BaseException) -> None:
        self._finish_building()
        self.built = None
        self.summary.setText(str(error) if isinstance(error, (DatasetError, FileNotFoundError, ValueError))
                             else f"The dataset could not be built: {error}")
        self.problems.setStringList([str(p) for p in getattr(error, "problems", [])])
        self.problems_view.setVisible(bool(self.problems.stringList()))
        self.histogram.setText("")
        self.examples.clear()

    def _show(self, built: BuiltDataset, tokenizer: TrainingTokenizer) -> None:
        self._finish_building()
        self.built = built
        self.export_button.setEnabled(True)
        self.summary.setText(built.summary())
        self.problems.setStringList([str(p) for p in built.problems])
        self.problems_view.setVisible(bool(built.problems))
        bins = built.histogram(bins=6)
        while bins and not bins[-1][2]:
            bins.pop()
        while bins and not bins[0][2]:  # the lengths present, not an axis from zero
            bins.pop(0)
        peak = max((count for *_, count in bins), default=1) or 1
        self.histogram.setText("Tokens per example\n" + "\n".join(
            f"{lo:>5}–{hi:<5} {'█' * max(1 if count else 0, round(24 * count / peak))} {count}" for lo, hi, count in bins))
        shown = []
        for item in built.items[:EXAMPLES_SHOWN]:
            pieces = tokenizer.spans(item.example.turns)
            text = "".join(f"⟦{t}⟧" if train else t for t, train in pieces)
            shown.append(f"— {item.example.origin} · {len(item.encoded.input_ids)} tokens, "
                         f"{item.encoded.trained} learned (in ⟦ ⟧)\n{text}")
        self.examples.setPlainText("\n\n".join(shown))
        self._update_estimate()

    def _export(self) -> None:
        if self.built is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export dataset", str(Path.home() / "hearth-dataset.jsonl"),
                                              "JSON Lines (*.jsonl)")
        if path:
            count = self.built.write_jsonl(Path(path))
            self.summary.setText(self.built.summary() + f"\nExported {count} examples to {path}.")

    # -- estimate and start -----------------------------------------------------------------------------------
    @Slot()
    def _update_estimate(self) -> None:
        base = self.base_model()
        if base is None or self.built is None:
            self.estimate.setText("The estimate of time and memory appears after a preview.")
            self.estimate.setProperty("warning", False)
            return
        lengths, options = self.built.lengths(), self.form.values()
        with self.core.db.session() as session:
            pace = pace_for(session, base.id, options["method"])
        converts = base.format == "gguf" and not has_plain_copy(Path(base.path), paths.cache_dir())
        est = estimate_job(base.info, options, len(self.built.train), sum(lengths) / max(1, len(lengths)),
                           pace=pace, converts=converts, on_gpu=bool(gpu_memories()))
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
        self.start_requested.emit(base, self.form.values(), self.spec(), self.name.text().strip())
        self.name.clear()
