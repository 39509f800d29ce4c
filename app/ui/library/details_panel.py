"""The selected model's facts, fit (estimate beside measured), benchmark figures, and what you can do with it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app.core.library.load_crash import load_crash_note
from app.core.library.metadata import parameter_label
from app.core.units import format_bytes
from app.ui.library.library_model import LibraryRow, backend_for
from app.ui.plain_text import plain_label


class ModelDetailsPanel(QWidget):
    load_requested = Signal(int)
    unload_requested = Signal()
    default_requested = Signal(int)
    benchmark_requested = Signal(int)
    rename_requested = Signal(int)
    remove_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("detailsPanel")
        self.row: LibraryRow | None = None
        self.loaded_id: int | None = None
        self.busy = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        self.title = plain_label("Select a model")
        self.title.setObjectName("detailsTitle")
        self.title.setWordWrap(True)
        self.subtitle = plain_label("")
        self.subtitle.setObjectName("hint")
        self.subtitle.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        self.facts = QFormLayout()
        self.facts.setLabelAlignment(Qt.AlignRight)
        self.fact_labels: dict[str, QLabel] = {}
        for key in ("Architecture", "Parameters", "Quantisation", "Context", "Chat template", "Size", "Backend",
                    "Source", "Fit", "Memory", "Speed", "Path"):
            value = plain_label("")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.fact_labels[key] = value
            self.facts.addRow(plain_label(key), value)
        layout.addLayout(self.facts)
        buttons = QGridLayout()
        self.load_button = QPushButton("Load in chat")
        self.load_button.setObjectName("primaryButton")
        self.unload_button = QPushButton("Unload")
        self.default_button = QPushButton("Set as default")
        self.bench_button = QPushButton("Benchmark on this machine")
        self.rename_button = QPushButton("Rename…")
        self.remove_button = QPushButton("Remove…")
        for i, b in enumerate((self.load_button, self.unload_button, self.default_button, self.rename_button,
                               self.bench_button, self.remove_button)):
            buttons.addWidget(b, i // 2, i % 2)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.load_button.clicked.connect(lambda: self.row and self.load_requested.emit(self.row.id))
        self.unload_button.clicked.connect(self.unload_requested)
        self.default_button.clicked.connect(lambda: self.row and self.default_requested.emit(self.row.id))
        self.bench_button.clicked.connect(lambda: self.row and self.benchmark_requested.emit(self.row.id))
        self.rename_button.clicked.connect(lambda: self.row and self.rename_requested.emit(self.row.id))
        self.remove_button.clicked.connect(lambda: self.row and self.remove_requested.emit(self.row.id))
        self.show_row(None)

    def show_row(self, row: LibraryRow | None) -> None:
        self.row = row
        for b in (self.load_button, self.unload_button, self.default_button, self.bench_button,
                  self.rename_button, self.remove_button):
            b.setEnabled(row is not None)
        if row is None:
            self.title.setText("Select a model")
            self.subtitle.setText("Drop a .gguf file or a Hugging Face folder anywhere on this page to add it.")
            for label in self.fact_labels.values():
                label.setText("")
            return
        ref, info, fit = row.ref, row.ref.info, row.fit
        self.title.setText(ref.name)
        crashed = load_crash_note(ref.load_crashed_at)
        self.subtitle.setText((info.get("gguf_name") or "") + (f"\n⚠ It {crashed}: not loaded at start; Load in chat "
                                                                "tries again." if crashed else ""))
        template = "yes, from the model" if info.get("chat_template") else "missing: this model cannot chat as is"
        ctx = info.get("context_length")
        source = {"starter": "Built in (starter model)", "local": "Added from this computer", "hub": "Downloaded",
                  "merged": "Merged from a trained adapter"}.get(
            ref.source, ref.source
        )
        if ref.repo_id:
            source += f"\n{ref.repo_id} @ {(ref.revision or '')[:12]}"
        if ref.sha256:
            source += f"\nsha256 {ref.sha256[:16]}…"
        measured = row.measured
        memory = f"estimate {format_bytes(fit.total)}"
        if measured is not None:
            memory += f" · measured {format_bytes(measured)} ({100 * (measured - fit.total) / max(1, fit.total):+.0f}%)"
        else:
            memory += " · not measured yet (load it once)"
        bench = ref.benchmark or {}
        speed = (
            f"prompt {bench['prompt_tok_s']:.0f} tok/s · generation {bench['gen_tok_s']:.0f} tok/s ({bench.get('when', '')})"
            if bench.get("gen_tok_s") else "not measured: press Benchmark"
        )
        values = {
            "Architecture": info.get("architecture", "?"),
            "Parameters": parameter_label(info),
            "Quantisation": info.get("quant") or "?",
            "Context": f"{ctx:,} tokens" if isinstance(ctx, int) else "?",
            "Chat template": template,
            "Size": format_bytes(ref.size_bytes),
            "Backend": backend_for(ref),
            "Source": source,
            "Fit": f"{fit.verdict} at {fit.n_ctx:,} tokens",
            "Memory": memory,
            "Speed": speed,
            "Path": ref.path + ("" if ref.exists else "\n(missing: moved, deleted, or on a disconnected drive)"),
        }
        for key, value in values.items():
            self.fact_labels[key].setText(str(value))
        self.fact_labels["Fit"].setToolTip(fit.explain())
        self.fact_labels["Memory"].setToolTip(fit.explain())
        self.update_buttons()

    def set_loaded(self, model_id: int | None) -> None:
        self.loaded_id = model_id
        self.update_buttons()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.update_buttons()

    def update_buttons(self) -> None:
        if self.row is None:
            return
        exists, is_loaded = self.row.ref.exists, self.row.id == self.loaded_id
        self.load_button.setEnabled(exists and not self.busy)
        self.load_button.setText("Use in chat" if is_loaded else "Load in chat")
        self.unload_button.setEnabled(is_loaded and not self.busy)
        self.default_button.setEnabled(not self.row.ref.is_default)
        self.bench_button.setEnabled(exists and not self.busy)
        self.bench_button.setText("Benchmarking…" if self.busy else "Benchmark on this machine")
