"""A training job written from a recording, as a real run leaves it: the job row, a run folder with its
`events.jsonl`, and what those events record (the metrics, the adapter), applied by the same code that applies a
live child's events. `hearth screenshot` shows the Training pages this way without training a model, and tests
feed past jobs to the estimate with it.

A recording is a real run's events with their times made relative to the job's start and their paths relative
to the run folder (`Recording.of_run` makes one), so it can be written again at any time, into any folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from app import paths
from app.core.library.registry import ModelRef
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training.events import EVENTS_FILE, read_events
from app.core.training.jobs import JobRef, apply_event, slug
from app.core.training.options import job_options

RUN_DIR = "{run_dir}"  # stands for the run folder in a recording's paths
PATH_FIELDS = ("adapter_dir", "gguf_adapter", "path")


@dataclass(frozen=True)
class Recording:
    name: str
    options: dict
    events: list[dict]  # each with `t`: seconds from the job's start
    dataset: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # other output recorded with the run (e.g. an A/B pair of replies)

    @classmethod
    def load(cls, path: Path) -> Recording:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(data["name"], data["options"], data["events"], data.get("dataset", {}), data.get("notes", {}))

    def save(self, path: Path) -> None:
        data = {"name": self.name, "options": self.options, "dataset": self.dataset, "notes": self.notes,
                "events": self.events}
        lines = ",\n  ".join(json.dumps(e, ensure_ascii=False) for e in self.events)  # one event a line: diffable
        head = json.dumps({k: v for k, v in data.items() if k != "events"}, ensure_ascii=False)[:-1]
        Path(path).write_text(f'{head}, "events": [\n  {lines}\n]}}\n', encoding="utf-8")

    @classmethod
    def of_run(cls, job: TrainingJob) -> Recording:
        """A finished job's run, ready to be written again elsewhere."""
        start = job.started_at.replace(tzinfo=UTC).timestamp()
        run_dir = str(job.run_dir)
        events = []
        for event in read_events(Path(job.run_dir)):
            event = {**event, "t": round(event["t"] - start, 3)}
            for key in PATH_FIELDS:
                if isinstance(event.get(key), str):
                    event[key] = event[key].replace(run_dir, RUN_DIR)
            events.append(event)
        return cls(job.name, dict(job.options), events, dict(job.dataset or {}))

    def steps(self) -> int:
        return max((e["step"] for e in self.events if e["event"] == "step"), default=0)

    def time_of_step(self, step: int) -> float:
        return next(e["t"] for e in self.events if e["event"] == "step" and e["step"] >= step)

    def duration(self) -> float:
        return self.events[-1]["t"]

    def events_between(self, after_step: int | None, until_step: int | None) -> list[dict]:
        """The events after step `after_step` up to and with step `until_step` (None: from the start, to the end;
        0: before the first step). A cut run ends with its step: what followed it had not been written yet."""
        return self.events[self._cut(after_step, 0) : self._cut(until_step, len(self.events))]

    def _cut(self, step: int | None, default: int) -> int:
        if step is None:
            return default
        indices = [i for i, e in enumerate(self.events) if e["event"] == "step"]
        if step == 0:
            return indices[0]
        return next(i for i in indices if self.events[i]["step"] == step) + 1


def _placed(event: dict, run_dir: Path, started: float) -> dict:
    event = {**event, "t": round(started + event["t"], 3)}
    for key in PATH_FIELDS:
        if isinstance(event.get(key), str):
            event[key] = event[key].replace(RUN_DIR, str(run_dir))
    return event


def append_events(session: Session, job: JobRef, recorded: list[dict], started: float) -> list[dict]:
    """Recorded events added to the job as its child would add them: to the events file, then to the database.
    Returns them as written (times from `started`, paths in the run folder), for a live view."""
    placed = [_placed(e, job.run_dir, started) for e in recorded]
    with open(job.run_dir / EVENTS_FILE, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in placed)
    for event in placed:
        apply_event(session, job.id, event)
    if any(e["event"] == "done" for e in placed):
        session.get(TrainingJob, job.id).finished_at = datetime.fromtimestamp(placed[-1]["t"], UTC).replace(tzinfo=None)
    session.flush()
    return placed


def start_job(session: Session, base: ModelRef, recording: Recording, *, started: float,
              name: str | None = None) -> JobRef:
    """The job's row and run folder as they are when its process has just started (at `started`, seconds since
    the epoch) and has written nothing yet; `append_events` feeds it on. It is left running with no process: the
    caller owns it (a Hearth process that opens the database later marks it failed)."""
    options = job_options(recording.options)
    job = TrainingJob(name=name or recording.name, base_model_id=base.id, base_name=base.name, base_path=base.path,
                      method=options["method"], options=options, status=JobStatus.RUNNING, run_dir="", step=0,
                      total_steps=0, dataset=recording.dataset,
                      started_at=datetime.fromtimestamp(started, UTC).replace(tzinfo=None))
    session.add(job)
    session.flush()
    run_dir = paths.runs_dir() / f"{job.id:04d}-{slug(base.name)}-recorded"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / EVENTS_FILE).touch()
    job.run_dir = str(run_dir)
    session.flush()
    return JobRef.of(job)


def write_job(session: Session, base: ModelRef, recording: Recording, *, started: float,
              until_step: int | None = None, name: str | None = None) -> JobRef:
    """The recorded job as it stood once step `until_step` was done (None: all of it, finished, with its adapter;
    0: started, no step yet)."""
    job = start_job(session, base, recording, started=started, name=name)
    append_events(session, job, recording.events_between(None, until_step), started)
    return JobRef.of(session.get(TrainingJob, job.id))
