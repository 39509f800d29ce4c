"""What finished jobs measured, for the next job's estimate: how long the worker took to start (Python, torch, the
model, the first evaluation), how long it took to finish after its last step (final evaluation, saving and
converting the adapter), and how fast it went in between.

Read from the job rows (when each job started) and the events files in their run folders (every event carries
the time it was written), so nothing extra is stored and every past job counts, also those run before this code.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.base_model import PREPARING
from app.core.training.events import read_events

RECENT_JOBS = 5  # the newest few: a machine, a cache or a library version changes, and older jobs stop telling


@dataclass(frozen=True)
class PastRun:
    """One finished job's timings, in seconds from the job's start (when the app started its process)."""

    to_started_s: float  # the `started` event: imports and the model loaded
    to_first_step_s: float  # the first step done (the first evaluation and that step included)
    finish_s: float  # from the last step to `done`
    tokens_per_s: float | None  # real tokens per wall-clock second after the first step (evaluations included)
    steps: int
    conversion_s: float = 0.0  # of the start-up, making the GGUF's plain copy (only a model's first job does)

    @property
    def startup_s(self) -> float:
        """The start-up every job pays: the first step's time without the one-off conversion."""
        return self.to_first_step_s - self.conversion_s


@dataclass(frozen=True)
class Pace:
    """The typical past job on a model: the medians of its recent runs."""

    startup_s: float  # the job's start to its first step, without the GGUF conversion
    finish_s: float
    tokens_per_s: float | None
    runs: int
    conversion_s: float | None = None  # what making the plain copy took, when a past job made it


def measure_run(job_started: float, events: Iterable[dict]) -> PastRun | None:
    """The timings of one finished run from its events (None when it did not run through in one go: a resumed
    job's start time says nothing about its last start-up)."""
    events = [e for e in events if isinstance(e.get("t"), int | float)]
    started = [e for e in events if e["event"] == "started"]
    steps = [e for e in events if e["event"] == "step"]
    done = [e for e in events if e["event"] == "done"]
    if len(started) != 1 or not steps or not done or started[0].get("resumed_from"):
        return None
    first, last = steps[0], steps[-1]
    to_first = first["t"] - job_started
    if to_first <= 0 or started[0]["t"] < job_started:
        return None  # a clock that jumped, or a row that does not belong to this file
    span, tokens = last["t"] - first["t"], sum(float(s.get("tokens") or 0) for s in steps[1:])
    tps = tokens / span if span > 0 and tokens > 0 else None
    return PastRun(started[0]["t"] - job_started, to_first, max(0.0, done[-1]["t"] - last["t"]), tps, len(steps),
                   _conversion_s(events))


def _conversion_s(events: list[dict]) -> float:
    """From the worker's "Preparing … (once per model file)" line to its next event."""
    head, tail = PREPARING.split("{name}")
    for this, after in zip(events, events[1:], strict=False):
        message = this.get("message") or ""
        if this["event"] == "log" and message.startswith(head) and message.endswith(tail):
            return max(0.0, after["t"] - this["t"])
    return 0.0


def _epoch(when: datetime) -> float:
    return when.replace(tzinfo=UTC).timestamp()  # the database keeps UTC without a zone


def past_runs(session: Session, base_model_id: int, method: str, limit: int = RECENT_JOBS) -> list[PastRun]:
    """The newest finished jobs on this base model with this method, measured (newest first)."""
    rows = session.execute(
        select(TrainingJob.started_at, TrainingJob.run_dir)
        .where(TrainingJob.base_model_id == base_model_id, TrainingJob.method == method,
               TrainingJob.status == JobStatus.DONE, TrainingJob.started_at.is_not(None))
        .order_by(TrainingJob.id.desc())
    ).all()
    runs = []
    for started_at, run_dir in rows:
        run = measure_run(_epoch(started_at), read_events(Path(run_dir)))
        if run is not None:
            runs.append(run)
            if len(runs) == limit:
                break
    return runs


def learned_pace(runs: Sequence[PastRun]) -> Pace | None:
    if not runs:
        return None
    speeds = [r.tokens_per_s for r in runs if r.tokens_per_s]
    conversions = [r.conversion_s for r in runs if r.conversion_s]
    return Pace(statistics.median(r.startup_s for r in runs), statistics.median(r.finish_s for r in runs),
                statistics.median(speeds) if speeds else None, len(runs),
                statistics.median(conversions) if conversions else None)


def pace_for(session: Session, base_model_id: int | None, method: str) -> Pace | None:
    return learned_pace(past_runs(session, base_model_id, method)) if base_model_id is not None else None
