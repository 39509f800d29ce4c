"""Export an adapter merged into its base model, for other apps. The merge runs in a child process
(`hearth adapters export --json`), so the window stays responsive and never imports torch."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QProcess, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from app.core.library.metadata import folder_size
from app.core.library.registry import ModelRef
from app.core.training.adapter_export import KINDS, default_out
from app.core.training.runner import app_command, child_env
from app.core.units import format_bytes
from app.ui.background import run_in_background
from app.ui.plain_text import plain_label


def _estimated_sizes(base: ModelRef) -> dict[str, int | None]:
    """The size of each export format (every GGUF one from a single read of the base's header)."""
    params = base.info.get("parameters")
    sizes: dict[str, int | None] = {kind: None for kind in KINDS}
    sizes["hf"] = int(params) * 2 if params else None
    if base.format == "gguf":
        from app.core.training.merge import merged_gguf_sizes

        gguf_kinds = {kind: kind.split("-", 1)[1] for kind in KINDS if kind.startswith("gguf")}
        try:
            found = merged_gguf_sizes(Path(base.path), tuple(gguf_kinds.values()))
        except (OSError, ValueError):
            found = {}
        sizes.update({kind: found.get(qtype) for kind, qtype in gguf_kinds.items()})
    return sizes


class ExportDialog(QDialog):
    exported = Signal(object)  # the new library model's id, or None

    def __init__(self, adapter_id: int, adapter_name: str, base: ModelRef, parent=None):
        super().__init__(parent)
        self.adapter_id, self.adapter_name, self.base = adapter_id, adapter_name, base
        self.process: QProcess | None = None
        self.result_path: Path | None = None
        self._buffer, self._stderr, self._failed, self._model_id = b"", b"", None, None
        self.sizes: dict[str, int | None] | None = None  # estimated size per format, once worked out
        self.setWindowTitle(f"Export {adapter_name} merged into {base.name}")
        self.resize(640, 300)

        intro = plain_label("Writes a full copy of the base model with the adapter merged in, for apps that cannot load "
                       "adapters (LM Studio, Ollama, llama.cpp, transformers). In Hearth, “Use in chat” needs no "
                       "copy. Merged files stay 16- or 8-bit: re-quantising to 4-bit would erase the fine-tune.")
        intro.setWordWrap(True)
        intro.setObjectName("hint")
        self.kind = QComboBox()
        for kind, label in KINDS.items():
            self.kind.addItem(label, kind)
            if kind.startswith("gguf") and base.format != "gguf":
                index = self.kind.count() - 1
                self.kind.model().item(index).setEnabled(False)
                self.kind.setItemData(index, "The base is a Hugging Face folder: export a folder.", 3)
        if base.format != "gguf":
            self.kind.setCurrentIndex(list(KINDS).index("hf"))
        self.size_label = plain_label()
        self.size_label.setObjectName("hint")
        self.out = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.out, 1)
        where.addWidget(browse)
        self.add_to_library = QCheckBox("List it in Models, so it can be chatted with here too")
        self.add_to_library.setChecked(True)
        form = QFormLayout()
        form.addRow("Format", self.kind)
        form.addRow("", self.size_label)
        form.addRow("Save as", where)
        form.addRow("", self.add_to_library)

        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.status = plain_label("")
        self.status.setWordWrap(True)
        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("primaryButton")
        self.export_button.clicked.connect(self.start)
        self.show_button = QPushButton("Show in folder")
        self.show_button.setVisible(False)
        self.show_button.clicked.connect(self._show_in_folder)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self._close_or_cancel)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.show_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addStretch(1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.out.textEdited.connect(lambda _text: self.export_button.setEnabled(self.process is None))
        self._kind_changed()
        # Reading a GGUF's header takes seconds on a slow disk or a busy machine: not on the UI thread.
        run_in_background(lambda: _estimated_sizes(base), self._show_sizes, lambda _error: self._show_sizes({}))

    def selected_kind(self) -> str:
        return self.kind.currentData()

    @Slot()
    def _kind_changed(self) -> None:
        kind = self.selected_kind()
        self.out.setText(str(default_out(self.adapter_name, kind)))
        self.export_button.setEnabled(self.process is None)
        self._show_size()

    def _show_sizes(self, sizes: dict[str, int | None]) -> None:
        self.sizes = sizes
        self._show_size()

    def _show_size(self) -> None:
        if self.sizes is None:
            self.size_label.setText("Working out the size…")
            return
        size = self.sizes.get(self.selected_kind())
        self.size_label.setText(f"About {format_bytes(size)}." if size else "")

    def _browse(self) -> None:
        current = Path(self.out.text())
        if self.selected_kind() == "hf":
            folder = QFileDialog.getExistingDirectory(self, "Folder to create the model in", str(current.parent))
            chosen = str(Path(folder) / current.name) if folder else ""
        else:
            chosen, _ = QFileDialog.getSaveFileName(self, "Save the merged model", str(current), "GGUF (*.gguf)")
        if chosen:
            self.out.setText(chosen)

    # -- the child ------------------------------------------------------------------------------------------
    @Slot()
    def start(self) -> None:
        args = ["adapters", "export", str(self.adapter_id), "--to", self.selected_kind(), "--out",
                self.out.text().strip(), "--json"]
        if self.add_to_library.isChecked():
            args.append("--add-to-library")
        command = app_command(*args)
        self.process = QProcess(self)
        env = self.process.processEnvironment()
        for key, value in child_env().items():
            env.insert(key, value)
        self.process.setProcessEnvironment(env)
        self.process.readyReadStandardOutput.connect(self._read)
        self.process.finished.connect(self._finished)
        self._buffer, self._stderr, self.result_path, self._failed, self._model_id = b"", b"", None, None, None
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText("Starting…")
        self.export_button.setEnabled(False)
        self.show_button.setVisible(False)
        self.close_button.setText("Cancel")
        self.process.start(command[0], command[1:])

    @Slot()
    def _read_stderr(self) -> None:
        self._stderr = (self._stderr + bytes(self.process.readAllStandardError()))[-8000:]

    @Slot()
    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._on_event(event)

    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "planned":
            self.status.setText(f"Merging into {event['out']}…")
        elif kind == "progress":
            self.progress.setRange(0, event["total"])
            self.progress.setValue(event["done"])
        elif kind == "done":
            self.result_path = Path(event["path"])
            self._model_id = event.get("model_id")
        elif kind == "error":
            self._failed = event["message"]

    @Slot(int, QProcess.ExitStatus)
    def _finished(self, code: int, _status) -> None:
        self._read()
        self.progress.setVisible(False)
        self.export_button.setEnabled(True)
        self.close_button.setText("Close")
        if self.result_path is not None:
            self.show_saved(self.result_path, _size(self.result_path), self._model_id)
            self.exported.emit(self._model_id)
        elif self._failed:
            self.status.setText(self._failed)
        elif self.process is not None and self.process.property("cancelled"):
            _remove_partial(Path(self.out.text().strip()))
            self.status.setText("Cancelled; nothing was written.")
        else:
            tail = self._stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
            self.status.setText(f"The export stopped (exit code {code}). " + " ".join(tail))
        self.process = None

    def show_saved(self, path: Path, size: int, model_id: int | None) -> None:
        """The finished state: what was written, how big, whether it is in Models."""
        self.result_path, self._model_id = Path(path), model_id
        listed = " It is listed in Models." if model_id else ""
        self.status.setText(f"Saved {self.result_path.name} ({format_bytes(size)}).{listed}")
        self.show_button.setVisible(True)
        self.export_button.setEnabled(False)  # until another name or format is chosen

    def _close_or_cancel(self) -> None:
        if self.process is not None and self.process.state() != QProcess.NotRunning:
            self.process.setProperty("cancelled", True)
            self.process.kill()  # the merge writes to a .partial file, which the next run replaces
            return
        self.accept()

    def _show_in_folder(self) -> None:
        if self.result_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.result_path.parent)))

    def closeEvent(self, event) -> None:
        if self.process is not None and self.process.state() != QProcess.NotRunning:
            self.process.kill()
            self.process.waitForFinished(3000)
        super().closeEvent(event)


def _remove_partial(out: Path) -> None:
    import shutil

    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return folder_size(path)
    return path.stat().st_size if path.exists() else 0
