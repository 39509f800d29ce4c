"""One job, live or past: loss and eval-loss curves, progress with time left, speed, memory, and its last log lines."""

from __future__ import annotations

import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.storage.models import JobStatus, TrainingJob
from app.core.units import MB, format_bytes
from app.ui.library.downloads_model import format_eta
from app.ui.monitor.chart_card import SURFACE
from app.ui.plain_text import plain_label

ACCENT, EVAL = "#e07a3f", "#7bd389"
LOG_LINES = 200


class LiveView(QWidget):
    cancel_requested = Signal(int)
    resume_requested = Signal(int)
    use_requested = Signal(int)  # job id whose adapter to use in chat

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.job_id: int | None = None
        self.started_at: float | None = None
        self.title = plain_label("No job selected")
        self.title.setObjectName("pageTitle")
        self.status = plain_label("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.facts: dict[str, QLabel] = {}
        facts = QGridLayout()
        for i, name in enumerate(("Step", "Time left", "Elapsed", "Loss", "Eval loss", "Learning rate", "Speed",
                                  "Memory")):
            label, value = plain_label(name), plain_label("—")
            label.setObjectName("hint")
            value.setObjectName("factValue")
            facts.addWidget(label, (i // 4) * 2, i % 4)
            facts.addWidget(value, (i // 4) * 2 + 1, i % 4)
            self.facts[name] = value

        self.plot = pg.PlotWidget(background=SURFACE)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.addLegend(offset=(-10, 10), labelTextColor="#cfd5e1")
        for side in ("left", "bottom"):
            self.plot.getPlotItem().getAxis(side).setTextPen("#7d8699")
        self.plot.getPlotItem().setLabel("bottom", "step")
        self.loss_curve = self.plot.plot([], [], pen=pg.mkPen(ACCENT, width=2), name="training loss")
        self.eval_curve = self.plot.plot([], [], pen=pg.mkPen(EVAL, width=2), symbol="o", symbolSize=7,
                                         symbolBrush=EVAL, symbolPen=None, name="eval loss")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setObjectName("jobLog")
        self.log.setFixedHeight(96)

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("stopButton")
        self.resume_button = QPushButton("Resume from checkpoint")
        self.use_button = QPushButton("Use in chat")
        self.use_button.setObjectName("primaryButton")
        self.cancel_button.clicked.connect(lambda: self.cancel_requested.emit(self.job_id))
        self.resume_button.clicked.connect(lambda: self.resume_requested.emit(self.job_id))
        self.use_button.clicked.connect(lambda: self.use_requested.emit(self.job_id))
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        for b in (self.cancel_button, self.resume_button, self.use_button):
            buttons.addWidget(b)

        card = QFrame()
        card.setObjectName("chartCard")
        inner = QVBoxLayout(card)
        inner.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addLayout(facts)
        layout.addWidget(card, 1)
        layout.addWidget(self.log)
        self._reset()

    def _reset(self) -> None:
        self.steps, self.losses, self.eval_steps, self.eval_losses = [], [], [], []
        self.log.clear()
        for value in self.facts.values():
            value.setText("—")
        self.loss_curve.setData([], [])
        self.eval_curve.setData([], [])

    def show_job(self, job: TrainingJob, running: bool) -> None:
        """A job from the database: its stored curve; live events are added by `add_event`."""
        self.job_id = job.id
        self._reset()
        self.title.setText(job.name)
        for metric in job.metrics:
            if metric.kind == "step" and metric.loss is not None:
                self.steps.append(metric.step)
                self.losses.append(metric.loss)
            elif metric.kind == "eval" and metric.loss is not None:
                self.eval_steps.append(metric.step)
                self.eval_losses.append(metric.loss)
        self.loss_curve.setData(self.steps, self.losses)
        self.eval_curve.setData(self.eval_steps, self.eval_losses)
        self.progress.setMaximum(max(1, job.total_steps))
        self.progress.setValue(job.step)
        self.facts["Step"].setText(f"{job.step} / {job.total_steps or '?'}")
        if self.losses:
            self.facts["Loss"].setText(f"{self.losses[-1]:.4f}")
        if self.eval_losses:
            self.facts["Eval loss"].setText(f"{self.eval_losses[-1]:.4f}")
        if job.started_at and job.finished_at:
            self.facts["Elapsed"].setText(format_eta((job.finished_at - job.started_at).total_seconds()))
        self.started_at = time.time() if running else None
        checkpoints = Path(job.run_dir, "checkpoints")
        has_checkpoint = checkpoints.is_dir() and any(not p.name.endswith(".partial") for p in checkpoints.iterdir())
        self.set_status(job.status, job.error, running, has_checkpoint)

    def set_status(self, status: str, error: str | None, running: bool, has_checkpoint: bool = False) -> None:
        texts = {
            JobStatus.RUNNING: "Training… You can close the window: the job keeps running, and Hearth picks it up again.",
            JobStatus.QUEUED: "Starting…",
            JobStatus.DONE: "Done. The adapter is ready: use it in chat, or compare it with the base model.",
            JobStatus.CANCELLED: "Cancelled.",
            JobStatus.FAILED: f"Failed: {error or 'no reason given'}",
        }
        self.status.setText(texts.get(status, status))
        self.cancel_button.setVisible(running)
        self.resume_button.setVisible(not running and status in (JobStatus.CANCELLED, JobStatus.FAILED) and has_checkpoint)
        self.use_button.setVisible(status == JobStatus.DONE)

    def add_event(self, event: dict) -> None:
        kind = event["event"]
        if kind == "started":
            self.progress.setMaximum(max(1, event["total_steps"]))
            self.started_at = time.time()
            resumed = event.get("resumed_from")
            if resumed:
                keep = [i for i, s in enumerate(self.steps) if s <= resumed]
                self.steps = [self.steps[i] for i in keep]
                self.losses = [self.losses[i] for i in keep]
            self.log.appendPlainText(f"Started: {event['examples']} examples, {event['total_steps']} steps, "
                                     f"{event['method'].upper()} on {event['device']}"
                                     + (f", resumed from step {resumed}" if resumed else ""))
        elif kind == "step":
            self.steps.append(event["step"])
            self.losses.append(event["loss"])
            self.loss_curve.setData(self.steps, self.losses)
            self.progress.setValue(event["step"])
            self.facts["Step"].setText(f"{event['step']} / {self.progress.maximum()}")
            self.facts["Loss"].setText(f"{event['loss']:.4f}")
            self.facts["Learning rate"].setText(f"{event['lr']:.2e}")
            self.facts["Speed"].setText(f"{event['tokens_per_s']:.0f} tokens/s")
            self.facts["Memory"].setText(format_bytes(event["mem_mb"] * MB))
            self.facts["Time left"].setText(format_eta(event.get("eta_s")))
            if self.started_at:
                self.facts["Elapsed"].setText(format_eta(time.time() - self.started_at))
        elif kind == "eval":
            self.eval_steps.append(event["step"])
            self.eval_losses.append(event["eval_loss"])
            self.eval_curve.setData(self.eval_steps, self.eval_losses)
            self.facts["Eval loss"].setText(f"{event['eval_loss']:.4f}")
        elif kind == "checkpoint":
            self.log.appendPlainText(f"Checkpoint at step {event['step']}")
        elif kind == "log":
            self.log.appendPlainText(event["message"])
        elif kind == "done":
            self.facts["Time left"].setText("—")
            self.log.appendPlainText(f"Done: eval loss {event['eval_loss_before']:.4f} → {event['eval_loss_after']:.4f}")
        elif kind == "error":
            self.log.appendPlainText(f"Error: {event['message']}")
