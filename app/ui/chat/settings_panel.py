"""Per-conversation settings: model, system prompt and generation parameters (form generated from declarations)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.core.engine.params import GENERATION_OPTIONS, GenerationParams
from app.ui.chat.model_picker import ModelPicker
from app.ui.models_list import MODEL_ID_ROLE, ModelListModel
from app.ui.option_form import OptionForm
from app.ui.plain_text import plain_label


class ChatSettingsPanel(QScrollArea):
    """Emits `settings_changed(model_id, system_prompt, params)` a moment after the user stops editing."""

    settings_changed = Signal(object, str, dict)

    def __init__(self, models: ModelListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsPanel")
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        body = QWidget()
        body.setObjectName("settingsBody")
        layout = QVBoxLayout(body)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(8)

        layout.addWidget(self._heading("Model"))
        self.model_combo = ModelPicker(models)
        layout.addWidget(self.model_combo)
        self.backend_combo = QComboBox()
        for label, value in (
            ("Backend: automatic", "auto"),
            ("Backend: llama.cpp (GGUF)", "llama.cpp"),
            ("Backend: transformers", "transformers"),
        ):
            self.backend_combo.addItem(label, value)
        self.backend_combo.setToolTip(
            "Automatic runs GGUF files on llama.cpp and Hugging Face folders on transformers.\n"
            "Transformers can also run a GGUF (dequantised: slower, more memory, as training sees it)."
        )
        layout.addWidget(self.backend_combo)
        self.adapter_row = QWidget()
        adapter_layout = QHBoxLayout(self.adapter_row)
        adapter_layout.setContentsMargins(0, 0, 0, 0)
        self.adapter_label = plain_label("")
        self.adapter_label.setObjectName("adapterLabel")
        self.adapter_label.setWordWrap(True)
        self.remove_adapter_button = QPushButton("Remove")
        self.remove_adapter_button.setToolTip("Answer with the base model again")
        adapter_layout.addWidget(self.adapter_label, 1)
        adapter_layout.addWidget(self.remove_adapter_button)
        self.adapter_row.hide()
        layout.addWidget(self.adapter_row)
        self.template_label = plain_label("Chat template: (loads with the model)")
        self.template_label.setObjectName("hint")
        self.template_label.setWordWrap(True)
        layout.addWidget(self.template_label)

        layout.addWidget(self._heading("System prompt"))
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("Empty: the model's own default. E.g. “You are a concise assistant.”")
        self.system_prompt.setFixedHeight(96)
        layout.addWidget(self.system_prompt)

        layout.addWidget(self._heading("Generation"))
        self.form = OptionForm(GENERATION_OPTIONS)
        layout.addWidget(self.form)
        self.reset_button = QPushButton("Reset to defaults")
        layout.addWidget(self.reset_button)
        layout.addStretch(1)
        self.setWidget(body)
        self.setMinimumWidth(260)

        self._debounce = QTimer(self, singleShot=True, interval=400)
        self._debounce.timeout.connect(self._emit)
        self._loading = False
        self.model_combo.currentIndexChanged.connect(self._edited)
        self.backend_combo.currentIndexChanged.connect(self._edited)
        self.system_prompt.textChanged.connect(self._edited)
        self.form.changed.connect(self._edited)
        self.reset_button.clicked.connect(lambda: (self.form.set_values(GenerationParams().to_dict()), self._edited()))

    @staticmethod
    def _heading(text: str) -> QLabel:
        label = plain_label(text.upper())
        label.setObjectName("sectionHeading")
        return label

    def show_conversation(self, model_id: int | None, system_prompt: str, params: dict[str, Any]) -> None:
        self._loading = True
        row = self.model_combo.row_of(model_id)
        if row >= 0:
            self.model_combo.setCurrentIndex(row)
        self.system_prompt.setPlainText(system_prompt)
        self.form.set_values(GenerationParams.from_dict(params).to_dict())
        self.backend_combo.setCurrentIndex(max(0, self.backend_combo.findData((params or {}).get("backend", "auto"))))
        self._loading = False

    def select_model(self, model_id: int) -> None:
        row = self.model_combo.row_of(model_id)
        if row < 0:  # just added: the list has not seen it yet
            self.model_combo.models.refresh()
            row = self.model_combo.row_of(model_id)
        if row >= 0 and row != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(row)
        elif row >= 0:
            self._edited()

    def width_for_whole_name(self) -> int:
        """The panel width at which the model picker shows the current name without eliding it."""
        margins = self.widget().layout().contentsMargins()
        scrollbar = self.verticalScrollBar().sizeHint().width()
        return self.model_combo.sizeHint().width() + margins.left() + margins.right() + scrollbar + 4

    def set_adapter(self, name: str | None) -> None:
        """Show which trained adapter this conversation's replies come from (None: the base model)."""
        self.adapter_label.setText(f"Adapter: {name}" if name else "")
        self.adapter_row.setVisible(bool(name))

    def set_template(self, name: str, origin: str) -> None:
        self.template_label.setText(f"Chat template: {name} ({origin})")

    def selected_model_id(self) -> int | None:
        return self.model_combo.currentData(MODEL_ID_ROLE)

    def _edited(self, *_args) -> None:
        if not self._loading:
            self._debounce.start()

    def flush(self) -> None:
        if self._debounce.isActive():
            self._debounce.stop()
            self._emit()

    def values(self) -> dict[str, Any]:
        """Generation params plus the backend choice, as stored in the conversation."""
        return {**self.form.values(), "backend": self.backend_combo.currentData()}

    def _emit(self) -> None:
        self.settings_changed.emit(self.selected_model_id(), self.system_prompt.toPlainText(), self.values())
