"""Keeps the nudge to train the next version current, and says when to train it unasked (opt-in, when idle).

The count is one small query, run when something can have changed it: a reply rated in the chat, a job started or
ended, the threshold changed, and on a slow timer for ratings that arrive from elsewhere (an API client, a
correction). Idleness comes from the hardware sampler's readings (taken off the UI thread), never from a loop here.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core.settings import Settings
from app.core.storage.db import Database
from app.core.training.idle import IdleClock, may_train_now
from app.core.training.versions import Nudge, nudge
from app.ui.training.job_controller import JobController

log = logging.getLogger(__name__)

REFRESH_MS = 60_000  # ratings over the API and corrections send no signal here
SOON_MS = 300  # a burst of ratings is counted once
SETTINGS = ("train_nudge_after", "train_when_idle")


class TrainingNudge(QObject):
    changed = Signal(object)  # Nudge, or None when there is nothing to suggest
    auto_train_due = Signal(str)  # the assistant whose next version should train now

    def __init__(self, db: Database, settings: Settings, controller: JobController, parent: QObject | None = None,
                 clock: IdleClock | None = None):
        super().__init__(parent)
        self.db, self.settings, self.controller = db, settings, controller
        self.clock = clock or IdleClock()
        self.current: Nudge | None = None
        self.preparing = False  # a next version's dataset is being built: its job is as good as running
        self.generating = False
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(SOON_MS)
        self.soon.timeout.connect(self.refresh)
        controller.job_started.connect(lambda *_: self.refresh())
        controller.job_ended.connect(lambda *_: self.refresh())

    def job_running(self) -> bool:
        return self.preparing or bool(self.controller.followers)

    @Slot()
    def refresh(self) -> None:
        found = None
        if not self.job_running():
            try:
                with self.db.session() as session:
                    found = nudge(session, self.settings["train_nudge_after"])
            except Exception:  # noqa: BLE001 - a suggestion must never break the window
                log.exception("counting the replies rated since the last version failed")
        if found != self.current:
            self.current = found
            self.changed.emit(found)

    @Slot()
    def refresh_soon(self, *_args) -> None:
        self.soon.start()

    @Slot(str, object)
    def on_setting_changed(self, key: str, _value: Any) -> None:
        if key in SETTINGS:
            self.refresh_soon()

    @Slot(str)
    def on_engine_state(self, state: str) -> None:
        self.generating = state == "generating"
        if self.generating:
            self.clock.busy()

    @Slot(object)
    def on_sample(self, sample) -> None:
        """A hardware reading (every few seconds): is this the moment to train the next version unasked?"""
        if self.generating:
            self.clock.busy()  # a reply being written is not idle, however few cores it takes
        else:
            self.clock.observe(sample.cpu.percent, sample.time)
        self.check_idle(sample.time)

    def check_idle(self, now: float) -> None:
        if may_train_now(opted_in=self.settings["train_when_idle"], nudged=self.current is not None,
                         job_running=self.job_running(), generating=self.generating, idle=self.clock.idle(now)):
            self.clock.busy()  # once: the quiet stretch starts again after this job
            self.auto_train_due.emit(self.current.assistant)
