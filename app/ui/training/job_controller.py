"""Runs training children for the window and follows them through their events file.

A child is started detached with QProcess (it sends stdout nowhere and stderr to the run's log itself), so it
keeps running when the window closes. Whether the job was started now or before a restart, the controller follows it
the same way: new lines of `events.jsonl` are read on a timer, and the pid (checked with its start time) says
whether it is still alive. A child that is gone without a final event is marked failed with its stderr tail.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QTimer, Signal, Slot

from app.core.storage.db import Database
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training import jobs, runner
from app.core.training.events import EVENTS_FILE, FINAL, parse_line

log = logging.getLogger(__name__)

POLL_MS = 250


class _Follower:
    """Reads a run's events file from where it left off."""

    def __init__(self, job_id: int, run_dir: Path, pid: int | None, started: float | None, offset: int = 0,
                 seen_started: bool = False):
        self.job_id, self.run_dir, self.pid, self.started = job_id, run_dir, pid, started
        self.offset = offset
        self.partial = b""
        self.seen_started = seen_started  # the child has said `started` (its imports and model load are done)

    def new_events(self) -> list[dict]:
        try:
            with open(self.run_dir / EVENTS_FILE, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()  # a line still being written
        return [e for e in (parse_line(line) for line in lines) if e is not None]


class JobController(QObject):
    job_event = Signal(int, object)  # job id, event dict (already recorded in the database)
    job_ended = Signal(int, str)  # job id, final status
    job_started = Signal(int, int)  # job id, pid (the monitor charts it)

    def __init__(self, db: Database, parent: QObject | None = None):
        super().__init__(parent)
        self.db = db
        self.followers: dict[int, _Follower] = {}
        # Jobs normally outlive the window (re-attached on the next start). A run that owns its jobs (a
        # screenshot) sets this, so they end with this process however it ends.
        self.end_jobs_with_app = False
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

    # -- starting and stopping ------------------------------------------------------------------------------
    def start(self, job_id: int, resume: bool = False) -> int:
        with self.db.session() as session:
            job = jobs.get_job(session, job_id)
        command = runner.worker_command(job.run_dir, resume, detached=True,
                                        end_with=os.getpid() if self.end_jobs_with_app else None)
        # Detached, so the job outlives the window; the child sends its own output to the run folder.
        ok, pid = QProcess.startDetached(command[0], command[1:], str(job.run_dir))
        if not ok:
            raise RuntimeError("Could not start the training process.")
        started = runner.start_time(pid)
        with self.db.session() as session:
            jobs.mark_started(session, job_id, pid, started)  # None when unknown: no identity check then
        offset = (job.run_dir / EVENTS_FILE).stat().st_size if (job.run_dir / EVENTS_FILE).exists() else 0
        self._follow(_Follower(job_id, job.run_dir, pid, started, offset))
        self.job_started.emit(job_id, pid)
        return pid

    def cancel(self, job_id: int) -> None:
        with self.db.session() as session:
            job = jobs.get_job(session, job_id)
            runner.kill_tree(job.pid, job.pid_started)
            jobs.mark_ended(session, job_id, JobStatus.CANCELLED, "Cancelled. Resume continues from the last checkpoint.")
        self.followers.pop(job_id, None)
        self.job_ended.emit(job_id, JobStatus.CANCELLED)

    def reattach_all(self) -> list[int]:
        """At start-up: settle every job that was running when the app last closed; follow the live ones."""
        live = []
        with self.db.session() as session:
            ids = [j.id for j in jobs.list_jobs(session) if j.status in (JobStatus.RUNNING, JobStatus.QUEUED)]
        for job_id in ids:
            with self.db.session() as session:
                state = runner.reconcile(session, job_id)
                job = jobs.get_job(session, job_id)
            if state.status == JobStatus.RUNNING:
                size = (job.run_dir / EVENTS_FILE).stat().st_size if (job.run_dir / EVENTS_FILE).exists() else 0
                self._follow(_Follower(job_id, job.run_dir, job.pid, job.pid_started, size,
                                       seen_started=job.total_steps > 0))
                self.job_started.emit(job_id, job.pid)
                live.append(job_id)
            else:
                self.job_ended.emit(job_id, state.status)
        return live

    def is_running(self, job_id: int) -> bool:
        return job_id in self.followers

    def is_starting(self, job_id: int) -> bool:
        """Its process runs but is still importing torch and loading the model (no `started` event yet)."""
        follower = self.followers.get(job_id)
        return follower is not None and not follower.seen_started

    # -- following ------------------------------------------------------------------------------------------
    def _follow(self, follower: _Follower) -> None:
        self.followers[follower.job_id] = follower
        if not self.timer.isActive():
            self.timer.start()

    @Slot()
    def _poll(self) -> None:
        for job_id, follower in list(self.followers.items()):
            events = follower.new_events()
            ended = None
            if events:
                with self.db.session() as session:
                    for event in events:
                        jobs.apply_event(session, job_id, event)
                for event in events:
                    follower.seen_started = follower.seen_started or event["event"] == "started"
                    self.job_event.emit(job_id, event)
                    if event["event"] in FINAL:
                        ended = JobStatus.DONE if event["event"] == "done" else JobStatus.FAILED
            if ended is None and runner.process_for(follower.pid, follower.started) is None:
                events = follower.new_events()  # anything written just before it ended
                with self.db.session() as session:
                    for event in events:
                        jobs.apply_event(session, job_id, event)
                        if event["event"] in FINAL:
                            ended = JobStatus.DONE if event["event"] == "done" else JobStatus.FAILED
                    if ended is None:
                        tail = runner.stderr_tail(follower.run_dir)
                        reason = "The training process ended without finishing (it was killed, or ran out of memory)."
                        jobs.mark_ended(session, job_id, JobStatus.FAILED, reason + (f"\n\nLast output:\n{tail}" if tail else ""))
                        ended = session.get(TrainingJob, job_id).status
                for event in events:
                    self.job_event.emit(job_id, event)
            if ended is not None:
                self.followers.pop(job_id, None)
                self.job_ended.emit(job_id, ended)
        if not self.followers:
            self.timer.stop()

    def shutdown(self) -> None:
        """The window is closing: children keep running, and the next start re-attaches to them."""
        self.timer.stop()
