"""Starting, stopping and finding training children, without Qt (the CLI uses this directly; the tab uses it with
QProcess for the pipes).

The child runs in its own session (process group), so closing the app does not end it, and cancelling kills the
whole tree at once. A job is identified by pid *and* process start time, so a reused pid is never mistaken for it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import psutil
from sqlalchemy.orm import Session

from app.core.child_command import app_command, child_env  # noqa: F401 - re-exported for the training callers
from app.core.storage.db import Database
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.events import FINAL, read_events
from app.core.training.jobs import JOB_FILE, STDERR_FILE, apply_event, mark_ended, reset_metrics_after

log = logging.getLogger(__name__)


def worker_command(run_dir: Path, resume: bool = False, detached: bool = False,
                   end_with: int | None = None) -> list[str]:
    """`end_with`: a pid the job must not outlive (`hearth train`, a screenshot run); the window's jobs have none."""
    flags = [*(["--resume"] if resume else []), *(["--detached"] if detached else []),
             *(["--end-with", str(end_with)] if end_with else [])]
    return app_command("train-worker", str(Path(run_dir) / JOB_FILE), *flags)


def process_for(pid: int | None, started: float | None) -> psutil.Process | None:
    """The job's process if it is still running (and is really the one we started)."""
    if not pid:
        return None
    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > 1.0:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except psutil.Error:
        return None


def start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def kill_tree(pid: int | None, started: float | None = None) -> bool:
    """End the job's process and everything it started, at once. False when it was not running."""
    process = process_for(pid, started)
    if process is None:
        return False
    try:
        victims = process.children(recursive=True) + [process]
    except psutil.Error:
        victims = [process]
    for victim in victims:
        try:
            victim.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=5)
    return True


def stderr_tail(run_dir: Path, lines: int = 15) -> str:
    """The last lines the child wrote to stderr, for a failure report."""
    try:
        with open(Path(run_dir) / STDERR_FILE, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Reconciled:
    job_id: int
    status: str  # "running" (re-attach to it) or how it ended
    events: list[dict]


def reconcile(session: Session, job_id: int) -> Reconciled:
    """After a restart: replay the job's events into the database and decide whether its child is still running.
    A child that died without a final event (killed, out of memory, power loss) leaves the job failed, with the
    last lines of its stderr as the reason."""
    job = session.get(TrainingJob, job_id)
    events = list(read_events(Path(job.run_dir)))
    if job.status not in (JobStatus.RUNNING, JobStatus.QUEUED):
        return Reconciled(job_id, job.status, events)
    reset_metrics_after(session, job_id, -1)  # rebuilt from the file, which is the record
    for event in events:
        apply_event(session, job_id, event)
    job = session.get(TrainingJob, job_id)
    if job.status in JobStatus.ENDED:
        return Reconciled(job_id, job.status, events)
    if process_for(job.pid, job.pid_started) is not None:
        return Reconciled(job_id, JobStatus.RUNNING, events)
    if not any(e.get("event") in FINAL for e in events):
        tail = stderr_tail(Path(job.run_dir))
        reason = "The training process ended without finishing (it was killed, or ran out of memory)."
        mark_ended(session, job_id, JobStatus.FAILED, reason + (f"\n\nLast output:\n{tail}" if tail else ""))
    return Reconciled(job_id, session.get(TrainingJob, job_id).status, events)


def fail_orphaned(db: Database) -> list[int]:
    """Jobs marked running whose process has ended (its command was killed, the machine went down): their events
    are replayed and they are marked ended, with the reason, by whichever Hearth process opens next."""
    from sqlalchemy import select

    with db.session() as session:
        active = session.execute(
            select(TrainingJob.id, TrainingJob.pid, TrainingJob.pid_started, TrainingJob.run_dir)
            .where(TrainingJob.status.in_((JobStatus.RUNNING, JobStatus.QUEUED)))
        ).all()
    ended = []
    for job_id, pid, pid_started, run_dir in active:
        if not pid or process_for(pid, pid_started) is not None or _runs_job(pid, run_dir):
            continue
        try:  # one job's broken run folder must not stop Hearth from opening
            with db.session() as session:
                if reconcile(session, job_id).status != JobStatus.RUNNING:
                    ended.append(job_id)
        except Exception:  # noqa: BLE001 - logged with its trace; the window's re-attach tries again
            log.exception("could not settle training job %s", job_id)
    return ended


def _runs_job(pid: int, run_dir: str) -> bool:
    """Whether `pid` is a worker for this run folder after all (its start time can read differently when the
    clock was stepped, so the pid-and-start-time check alone could declare a live job dead)."""
    try:
        return any(str(run_dir) in part for part in psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
