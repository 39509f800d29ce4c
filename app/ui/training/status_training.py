"""A running job in the status bar, on every tab ("Training My assistant v2 · step 7 of 20"), so a person chatting
while it trains sees it go on; a click shows it in the Training tab."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QPushButton, QWidget

from app.core.storage.db import Database
from app.core.storage.models import TrainingJob


class TrainingIndicator(QPushButton):
    def __init__(self, db: Database, parent: QWidget | None = None):
        super().__init__(parent)
        self.db = db
        self.setObjectName("statusLink")
        self.setFlat(True)
        self.jobs: dict[int, list] = {}  # job id -> [name, step, total steps]
        self.hide()

    @Slot(int, int)
    def on_started(self, job_id: int, _pid: int) -> None:
        with self.db.session() as session:
            job = session.get(TrainingJob, job_id)
            name = job.name if job else f"job {job_id}"
        self.jobs.setdefault(job_id, [name, 0, 0])
        self._show()

    @Slot(int, object)
    def on_event(self, job_id: int, event: dict) -> None:
        if job_id not in self.jobs:
            return
        if event["event"] == "started":
            self.jobs[job_id][1:] = [event.get("resumed_from") or 0, event["total_steps"]]
        elif event["event"] == "step":
            self.jobs[job_id][1] = event["step"]
        else:
            return
        self._show()

    @Slot(int, str)
    def on_ended(self, job_id: int, _status: str) -> None:
        self.jobs.pop(job_id, None)
        self._show()

    def _show(self) -> None:
        if not self.jobs:
            self.hide()
            return
        if len(self.jobs) > 1:
            self.setText(f"Training {len(self.jobs)} jobs")
        else:
            ((name, step, total),) = self.jobs.values()
            self.setText(f"Training {name} · step {step} of {total}" if total else f"Training {name} · starting")
        self.setToolTip("Chat stays usable: the job gives the cores to each reply. Click to watch it.")
        self.show()
