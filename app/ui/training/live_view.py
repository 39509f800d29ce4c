"""One job, live or past: loss and eval-loss curves, progress with time left, speed, memory, and its last log lines."""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.events import read_events
from app.core.units import MB, format_bytes
from app.ui.library.downloads_model import format_eta
from app.ui.monitor.chart_card import SURFACE
from app.ui.plain_text import plain_label

ACCENT, EVAL = "#e07a3f", "#7bd389"
LOG_LINES = 200
NO_JOB_HINT = "Train a job to see its loss here: set one up on the New job page."
STARTING = "Starting the training process… PyTorch and the model load first, which takes a while."


def log_line(event: dict) -> str | None:
    """The line an event adds to the job's log (None for the curve's events)."""
    kind = event["event"]
    if kind == "started":
        resumed = event.get("resumed_from")
        return (f"Started: {event['examples']} examples, {event['total_steps']} steps, {event['method'].upper()} on "
                f"{event['device']}" + (f", resumed from step {resumed}" if resumed else ""))
    if kind == "checkpoint":
        return f"Checkpoint at step {event['step']}"
    if kind == "log":
        return event["message"]
    if kind == "done":
        return f"Done: eval loss {event['eval_loss_before']:.4f} → {event['eval_loss_after']:.4f}"
    if kind == "error":
        return f"Error: {event['message']}"
    return None


class LiveView(QWidget):
    cancel_requested = Signal(int)
    resume_requested = Signal(int)
    use_requested = Signal(int)  # job id whose adapter to use in chat

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.job_id: int | None = None
        self.started_at: float | None = None  # when the job's process started (seconds since the epoch)
        self.starting = False  # the process runs but has not said `started` yet
        self.clock = QTimer(self)  # Elapsed keeps counting between steps (and while the process starts)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(lambda: self._elapsed())
        self.title = plain_label("")
        self.title.setObjectName("pageTitle")
        self.status = plain_label("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.facts: dict[str, QLabel] = {}
        self.facts_box = QWidget()
        facts = QGridLayout(self.facts_box)
        facts.setContentsMargins(0, 0, 0, 0)
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

        self.chart_hint = plain_label(NO_JOB_HINT)  # instead of an empty 0-1 plot
        self.chart_hint.setObjectName("hint")
        self.chart_hint.setAlignment(Qt.AlignCenter)
        self.chart_hint.setWordWrap(True)
        card = QFrame()
        card.setObjectName("chartCard")
        self.chart_pages = QStackedLayout(card)
        self.chart_pages.addWidget(self.chart_hint)
        self.chart_pages.addWidget(self.plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addWidget(self.facts_box)
        layout.addWidget(card, 1)
        layout.addWidget(self.log)
        self.show_nothing()

    def _reset(self) -> None:
        self.steps, self.losses, self.eval_steps, self.eval_losses = [], [], [], []
        self.log.clear()
        for value in self.facts.values():
            value.setText("—")
        self.loss_curve.setData([], [])
        self.eval_curve.setData([], [])

    def show_nothing(self, has_jobs: bool = False) -> None:
        """No job to show: no buttons, no progress, and a line saying how to get a curve here."""
        self.job_id, self.started_at, self.starting = None, None, False
        self.clock.stop()
        self._reset()
        self.title.setText("No job selected" if has_jobs else "No training jobs yet")
        self.status.setText("Select a job in the list to see its curves." if has_jobs else "")
        self.status.setVisible(has_jobs)
        for widget in (self.progress, self.cancel_button, self.resume_button, self.use_button, self.facts_box,
                       self.log):
            widget.setVisible(False)
        self._update_chart()

    def _update_chart(self, hint: str = NO_JOB_HINT) -> None:
        """The plot once there is a point to draw; until then, a line saying why there is none."""
        if self.steps or self.eval_steps:
            self.chart_pages.setCurrentWidget(self.plot)
            return
        self.chart_hint.setText(hint)
        self.chart_pages.setCurrentWidget(self.chart_hint)

    def _elapsed(self, now: float | None = None) -> None:
        if self.started_at:
            self.facts["Elapsed"].setText(format_eta(max(0.0, (now or time.time()) - self.started_at)))

    def show_job(self, job: TrainingJob, running: bool, starting: bool = False) -> None:
        """A job from the database: its stored curve; live events are added by `add_event`. `starting`: its
        process runs but has not reported `started` yet (importing torch and loading the model take seconds)."""
        self.job_id = job.id
        self.starting = running and starting
        self._reset()
        for widget in (self.status, self.progress, self.facts_box, self.log):
            widget.setVisible(True)
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
        self._show_progress(job.step, job.total_steps)
        if self.losses:
            self.facts["Loss"].setText(f"{self.losses[-1]:.4f}")
        if self.eval_losses:
            self.facts["Eval loss"].setText(f"{self.eval_losses[-1]:.4f}")
        self._past_facts(job)
        for event in read_events(Path(job.run_dir)):  # the log so far; live lines follow through add_event
            line = log_line(event)
            if line is not None:
                self.log.appendPlainText(line)
        if job.started_at and job.finished_at:
            self.facts["Elapsed"].setText(format_eta((job.finished_at - job.started_at).total_seconds()))
        self.started_at = job.started_at.replace(tzinfo=UTC).timestamp() if running and job.started_at else None
        if running:
            self._elapsed()
            self.clock.start()
        else:
            self.clock.stop()
        checkpoints = Path(job.run_dir, "checkpoints")
        has_checkpoint = checkpoints.is_dir() and any(not p.name.endswith(".partial") for p in checkpoints.iterdir())
        self.set_status(job.status, job.error, running, has_checkpoint)
        self._update_chart(STARTING if self.starting else
                           "The loss appears here after the first step." if running else
                           "This job stopped before its first step, so it has no loss to show.")

    def _past_facts(self, job: TrainingJob) -> None:
        """A job's stored steps: its last learning rate, its typical speed, its peak memory."""
        steps = [m for m in job.metrics if m.kind == "step"]
        if not steps:
            return
        if steps[-1].lr is not None:
            self.facts["Learning rate"].setText(f"{steps[-1].lr:.2e}")
        speeds = sorted(m.tokens_per_s for m in steps if m.tokens_per_s)
        if speeds:
            self.facts["Speed"].setText(f"{speeds[len(speeds) // 2]:.0f} tokens/s")
        memory = [m.mem_mb for m in steps if m.mem_mb]
        if memory:
            self.facts["Memory"].setText(format_bytes(max(memory) * MB))

    def _show_progress(self, step: int, total: int) -> None:
        if self.starting:  # no step count yet: a busy bar, not "0 / ?"
            self.progress.setRange(0, 0)
            self.facts["Step"].setText("—")
            return
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(step)
        self.facts["Step"].setText(f"{step} / {total}" if total else "—")

    def set_status(self, status: str, error: str | None, running: bool, has_checkpoint: bool = False) -> None:
        texts = {
            JobStatus.RUNNING: "Training… You can close the window: the job keeps running, and Hearth picks it up again.",
            JobStatus.QUEUED: "Starting…",
            JobStatus.DONE: "Done. The adapter is ready: use it in chat, or compare it with the base model.",
            JobStatus.CANCELLED: "Cancelled.",
            JobStatus.FAILED: f"Failed: {error or 'no reason given'}",
        }
        self.status.setText(STARTING if running and self.starting else texts.get(status, status))
        self.cancel_button.setVisible(running)
        self.resume_button.setVisible(not running and status in (JobStatus.CANCELLED, JobStatus.FAILED) and has_checkpoint)
        self.use_button.setVisible(status == JobStatus.DONE)

    def add_event(self, event: dict) -> None:
        kind = event["event"]
        if kind == "started":
            self.starting = False
            done = event.get("resumed_from") or (max(0, self.progress.value()) if self.progress.maximum() else 0)
            self._show_progress(done, event["total_steps"])
            self.status.setText("Training… You can close the window: the job keeps running, and Hearth picks it "
                                "up again.")
            self._update_chart("The loss appears here after the first step.")
            self.started_at = self.started_at or event.get("t") or time.time()
            resumed = event.get("resumed_from")
            if resumed:
                keep = [i for i, s in enumerate(self.steps) if s <= resumed]
                self.steps = [self.steps[i] for i in keep]
                self.losses = [self.losses[i] for i in keep]
        elif kind == "step":
            self.steps.append(event["step"])
            self.losses.append(event["loss"])
            self.loss_curve.setData(self.steps, self.losses)
            self._update_chart()
            self._show_progress(event["step"], self.progress.maximum())
            self.facts["Loss"].setText(f"{event['loss']:.4f}")
            self.facts["Learning rate"].setText(f"{event['lr']:.2e}")
            self.facts["Speed"].setText(f"{event['tokens_per_s']:.0f} tokens/s")
            self.facts["Memory"].setText(format_bytes(event["mem_mb"] * MB))
            self.facts["Time left"].setText(format_eta(event.get("eta_s")))
            self._elapsed(event.get("t"))
        elif kind == "eval":
            self.eval_steps.append(event["step"])
            self.eval_losses.append(event["eval_loss"])
            self.eval_curve.setData(self.eval_steps, self.eval_losses)
            self._update_chart()
            self.facts["Eval loss"].setText(f"{event['eval_loss']:.4f}")
        elif kind == "done":
            self.facts["Time left"].setText("—")
        line = log_line(event)
        if line is not None:
            self.log.appendPlainText(line)
