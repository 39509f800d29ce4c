"""The Monitor tab: live charts of the machine and of Hearth itself, and a warning when memory runs short.

Samples arrive from the sampler thread (see sampler_thread); the engine's own events give the per-reply figures.
The warning is worked out even while the tab is hidden, so the main window can show it on any tab.
"""

from __future__ import annotations

import math
import platform
import time

import psutil
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.engine.backend import LoadedModelInfo
from app.core.engine.events import Finished
from app.core.engine.host import resolve_backend
from app.core.hardware.history import ReplyStat, SampleHistory
from app.core.hardware.memory_alert import MemoryNeed, memory_alert
from app.core.hardware.sampler import HardwareSample, cpu_count, is_apple_silicon
from app.core.library.fit import MemoryBudget, memory_need
from app.core.library.registry import ModelRef, get_model
from app.core.startup import Core
from app.core.units import MB, format_bytes
from app.ui.engine import EngineController
from app.ui.monitor.sampler_thread import CHART_POINTS, HardwareMonitor
from app.ui.plain_text import plain_label

WINDOWS = ((60, "1 min"), (300, "5 min"), (900, "15 min"))


class MonitorTab(QWidget):
    memory_alert_changed = Signal(str)  # the warning text, or "" when it clears
    charts_updated = Signal()  # after each redraw (tests wait on it)

    def __init__(self, core: Core, engine: EngineController, monitor: HardwareMonitor, parent: QWidget | None = None):
        super().__init__(parent)
        self.core, self.engine, self.monitor = core, engine, monitor
        self.history = SampleHistory()
        self.window_s = 300
        self.charts = None  # built on first show
        self.alert_text = ""
        self.need: MemoryNeed | None = None
        self.streaming: dict[int, float] = {}  # message id -> live decode rate
        self._loaded: LoadedModelInfo | None = None
        self._plotted_at = 0.0

        title = plain_label("Monitor")
        title.setObjectName("pageTitle")
        self.summary = plain_label(self._machine_summary())
        self.summary.setObjectName("hint")
        self.window_buttons = QButtonGroup(self)
        picker = QHBoxLayout()
        picker.setSpacing(0)
        for seconds, label in WINDOWS:
            button = QPushButton(label)
            button.setObjectName("segment")
            button.setCheckable(True)
            button.setChecked(seconds == self.window_s)
            self.window_buttons.addButton(button, seconds)
            picker.addWidget(button)
        self.window_buttons.idClicked.connect(self.set_window)
        self.floor = QSpinBox()
        self.floor.setRange(0, 1024 * 1024)
        self.floor.setSingleStep(256)
        self.floor.setSuffix(" MB")
        self.floor.setValue(core.settings["low_memory_warning_mb"])
        self.floor.setToolTip("Warn when free memory falls below this, whatever model is loaded (0 turns it off).")
        self.floor.setKeyboardTracking(False)  # typing 1024 saves 1024, not 1, 10 and 102 on the way
        self.floor.valueChanged.connect(self._floor_changed)

        head = QHBoxLayout()
        head.setContentsMargins(16, 12, 16, 0)
        text = QVBoxLayout()
        text.addWidget(title)
        text.addWidget(self.summary)
        head.addLayout(text, 1)
        warn_label = plain_label("Warn below")
        warn_label.setObjectName("hint")
        head.addWidget(warn_label)
        head.addWidget(self.floor)
        head.addSpacing(16)
        head.addLayout(picker)

        self.gpu_note = plain_label("")
        self.gpu_note.setObjectName("gpuNote")
        self.gpu_note.setWordWrap(True)
        self.gpu_note.hide()
        self.alert = plain_label("")
        self.alert.setObjectName("memoryAlert")
        self.alert.setWordWrap(True)
        self.alert.hide()
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.NoFrame)
        self.waiting = plain_label("Taking the first reading…")
        self.waiting.setObjectName("hint")
        self.scroll.setWidget(self.waiting)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addLayout(head)
        layout.addWidget(self.alert)
        layout.addWidget(self.gpu_note)
        layout.addWidget(self.scroll, 1)

        monitor.sample_taken.connect(self._on_sample)
        w = engine.worker
        w.load_started.connect(self._on_load_started)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        w.loaded_model_changed.connect(self._on_loaded_changed)
        w.memory_measured.connect(self._on_loaded_changed)
        w.generation_progress.connect(self._on_progress)
        w.reply_finished.connect(self._on_reply_finished)
        w.reply_failed.connect(self._on_reply_failed)

    @staticmethod
    def _machine_summary() -> str:
        ram = psutil.virtual_memory().total
        memory = "unified memory" if is_apple_silicon() else "RAM"
        return f"{platform.system()} · {cpu_count()} logical cores · {format_bytes(ram)} {memory}"

    # -- visibility: fast sampling and redraws only while someone is looking --------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.charts is None:
            self._build_charts()
        self.monitor.set_visible(True)
        self._redraw(force=True)

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self.monitor.set_visible(False)

    def _build_charts(self) -> None:
        from app.ui.monitor.monitor_charts import MonitorCharts

        self.charts = MonitorCharts(cpu_count(), is_apple_silicon())
        self.charts.set_window(self.window_s)
        self.scroll.setWidget(self.charts)

    @Slot(int)
    def set_window(self, seconds: int) -> None:
        self.window_s = seconds
        self.window_buttons.button(seconds).setChecked(True)
        if self.charts is not None:
            self.charts.set_window(seconds)
            self._redraw(force=True)

    def _redraw(self, force: bool = False) -> None:
        if self.charts is None or not self.isVisible() or self.history.latest is None:
            return
        rates = list(self.streaming.values())
        now = time.time()
        # Plots redraw once per point they show: a wide window's lines would otherwise move by less than a pixel.
        plots = force or now - self._plotted_at >= max(1.0, self.window_s / CHART_POINTS) - 0.05
        if plots:
            self._plotted_at = now
        self.charts.redraw(self.history, now, rates[-1] if rates else None, plots)
        self.charts_updated.emit()

    # -- samples and the memory warning ---------------------------------------------------------------------
    @Slot(object)
    def _on_sample(self, sample: HardwareSample) -> None:
        self.history.add(sample)
        note = "" if sample.gpu.available else sample.gpu.reason
        if note != self.gpu_note.text():
            self.gpu_note.setText(note)
            self.gpu_note.setVisible(bool(note))
        self._check_memory()
        self._redraw()

    def _check_memory(self) -> None:
        if self.history.latest is None:
            return
        available = self.history.latest.memory.available
        text = memory_alert(available, self.need, self.floor.value() * MB) or ""
        if text != self.alert_text:
            self.alert_text = text
            self.alert.setText(f"⚠  {text}")
            self.alert.setVisible(bool(text))
            self.memory_alert_changed.emit(text)

    @Slot(int)
    def _floor_changed(self, value: int) -> None:
        self.core.settings.set("low_memory_warning_mb", value)
        self._check_memory()

    @Slot(str, object)
    def on_setting_changed(self, key: str, value) -> None:
        """The floor changed elsewhere (the Settings page): show it; saving it again changes nothing."""
        if key == "low_memory_warning_mb":
            self.floor.setValue(value)

    def set_need(self, need: MemoryNeed | None) -> None:
        self.need = need
        self._check_memory()

    def _need_for(self, model: ModelRef, n_ctx: int, backend: str, loading: bool) -> MemoryNeed | None:
        latest = self.history.latest
        budget = None
        if latest is not None:  # the sample we already have, rather than a second reading
            budget = MemoryBudget(latest.memory.available, latest.memory.total)
        try:
            return memory_need(model, n_ctx, backend, loading=loading, budget=budget)
        except Exception:  # noqa: BLE001 - a model without a readable shape simply has no warning
            return None

    @Slot(object, str)
    def _on_load_started(self, model: ModelRef, choice: str) -> None:
        backend = resolve_backend(model.format, choice)
        self.set_need(self._need_for(model, self.core.settings["context_length"], backend, loading=True))

    @Slot(object)
    def _on_model_loaded(self, info: LoadedModelInfo) -> None:
        self._loaded = info

    @Slot(str)
    def _on_model_failed(self, _message: str) -> None:
        self.set_need(None)

    @Slot(object)
    def _on_loaded_changed(self, model_id: int | None) -> None:
        if model_id is None or self._loaded is None:
            self.set_need(None)
            return
        with self.core.db.session() as session:
            try:
                ref = get_model(session, model_id)
            except LookupError:
                ref = None
        if ref is not None:
            self.set_need(self._need_for(ref, self._loaded.n_ctx, self._loaded.backend, loading=False))

    # -- the engine's own figures ---------------------------------------------------------------------------
    @Slot(int, int, float)
    def _on_progress(self, message_id: int, _tokens: int, rate: float) -> None:
        if rate <= 0:
            return
        self.streaming[message_id] = rate
        self.history.add_point("live_tokens_per_s", time.time(), rate)

    def _end_stream(self, message_id: int) -> None:
        if self.streaming.pop(message_id, None) is not None:
            self.history.add_point("live_tokens_per_s", time.time(), math.nan)  # a gap before the next reply

    @Slot(int, object)
    def _on_reply_finished(self, message_id: int, event: Finished) -> None:
        self._end_stream(message_id)
        if event.completion_tokens > 1 and event.tokens_per_s > 0:
            name = self._loaded.name if self._loaded else ""
            self.history.add_reply(
                ReplyStat(time.time(), event.tokens_per_s, event.ttft_s, event.completion_tokens, name)
            )
        self._redraw()

    @Slot(int, str)
    def _on_reply_failed(self, message_id: int, _message: str) -> None:
        self._end_stream(message_id)
