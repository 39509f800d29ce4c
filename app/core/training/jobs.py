"""Training jobs on the app's side: a run folder with everything the child needs, the job row, and the job's
events applied to the database as they arrive (or replayed from the events file after a restart).

A run folder holds `job.json` (what the child reads), `train.jsonl` / `eval.jsonl` (examples to imitate),
`train_prefs.jsonl` / `eval_prefs.jsonl` (preference records), `events.jsonl`, `stderr.log`, `checkpoints/`, and
on success `adapter/` (PEFT) and `adapter.gguf` (llama.cpp).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import paths
from app.core.library.registry import ModelRef
from app.core.storage.models import Adapter, JobStatus, TrainingJob, TrainingMetric, utcnow
from app.core.training import recipe
from app.core.training.dataset import BuiltDataset, DatasetError, DatasetSpec
from app.core.training.options import job_options
from app.core.training.preferences import Unpaired, write_preferences
from app.core.training.split import HELD_OUT_KEY
from app.core.training.versions import get_assistant

JOB_FILE = "job.json"
STDERR_FILE = "stderr.log"
PREFS_FILE, EVAL_PREFS_FILE = "train_prefs.jsonl", "eval_prefs.jsonl"
PREF_FIELDS = ("pref_pairs", "pref_accuracy_before", "pref_accuracy_after", "pref_margin_before", "pref_margin_after")


@dataclass(frozen=True)
class JobRef:
    id: int
    name: str
    status: str
    run_dir: Path
    method: str
    base_name: str
    step: int
    total_steps: int
    pid: int | None
    pid_started: float | None
    error: str | None
    eval_loss_before: float | None
    eval_loss_after: float | None

    @classmethod
    def of(cls, j: TrainingJob) -> JobRef:
        return cls(j.id, j.name, j.status, Path(j.run_dir), j.method, j.base_name, j.step, j.total_steps, j.pid,
                   j.pid_started, j.error, j.eval_loss_before, j.eval_loss_after)


def slug(text: str, limit: int = 40, empty: str = "job") -> str:
    """A name safe in any file system: letters, digits and dashes."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:limit] or empty


def create_job(session: Session, base: ModelRef, options: dict, spec: DatasetSpec, built: BuiltDataset,
               name: str | None = None, cache_dir: Path | None = None, assistant: str | None = None) -> JobRef:
    """The job row and its run folder, ready for `python -m app train-worker <run>/job.json`.

    `options` are the ones the person gave: with `fit_to_data` on, the recipe chooses the rest from the data's
    shape (what was given wins). `assistant`: the assistant whose next version this trains."""
    given = dict(options or {})
    objective = job_options(given)["objective"]  # a value an option refuses raises here, naming it
    uses_preferences = objective != "sft"
    if not built.train and not uses_preferences:
        raise DatasetError("This dataset has only preferences (pairs and thumbs-down replies) and no replies to "
                           "imitate; choose to learn preferences too, or add thumbs-up replies or corrections.")
    resolved, note = recipe.apply(given, data_shape(built, uses_preferences), base.info.get("parameters"))
    options = job_options(resolved)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    job = TrainingJob(
        name=name or f"{base.name} · {stamp}", base_model_id=base.id, base_name=base.name, base_path=base.path,
        method=options["method"], options=options, status=JobStatus.QUEUED, run_dir="", step=0, total_steps=0,
        assistant=assistant.strip() if assistant and assistant.strip() else None,
        dataset=dataset_record(spec, built, note),
    )
    session.add(job)
    session.flush()
    run_dir = paths.runs_dir() / f"{job.id:04d}-{slug(base.name)}-{stamp}"
    run_dir.mkdir(parents=True, exist_ok=False)
    job.run_dir = str(run_dir)
    built.write_jsonl(run_dir / "train.jsonl", built.train)
    built.write_jsonl(run_dir / "eval.jsonl", built.eval)
    write_preferences(run_dir / PREFS_FILE, built.train_prefs)
    write_preferences(run_dir / EVAL_PREFS_FILE, built.eval_prefs)
    write_job_file(run_dir, job_id=job.id, base=base, options=options, cache_dir=cache_dir, preferences=True)
    return JobRef.of(job)


def data_shape(built: BuiltDataset, uses_preferences: bool = True) -> recipe.DataShape:
    """What the recipe chooses from: the training split's examples, their trained tokens, and its preferences. A lone
    thumbs-up is trained on as a reply to imitate (the worker adds it to the examples when it is not one already),
    so only lone thumbs-down count as unpaired preferences here."""
    prefs = built.train_pref_items if uses_preferences else []
    return recipe.DataShape(examples=len(built.train), tokens=sum(i.encoded.trained for i in built.train),
                            pairs=sum(not isinstance(p.record, Unpaired) for p in prefs),
                            unpaired=sum(isinstance(p.record, Unpaired) and not p.record.desirable for p in prefs))


def dataset_record(spec: DatasetSpec, built: BuiltDataset, recipe_note: str = "") -> dict:
    """The job row's `dataset`: the spec, the counts the job list and the card show, and the held-out prompts
    (which later versions keep out of training, split.py)."""
    return {"spec": spec.to_dict(), "train": len(built.train), "eval": len(built.eval),
            "eval_is_train": built.eval_is_train, "per_source": dict(built.per_source),
            "counts": {source: c.to_dict() for source, c in built.counts.items()},
            "pairs": built.pair_count(), "train_pairs": built.pair_count(held_out=False),
            "eval_pairs": built.pair_count(held_out=True),
            "unpaired_down": sum(c.unpaired_down for c in built.counts.values()),
            "unpaired_up": sum(c.unpaired_up for c in built.counts.values()),
            HELD_OUT_KEY: sorted(built.held_out), "recipe_note": recipe_note,
            "problems": [str(p) for p in built.problems[:200]]}


def write_job_file(run_dir: Path, *, job_id: int | None, base: ModelRef, options: dict,
                   cache_dir: Path | None = None, preferences: bool = False) -> Path:
    job = {
        "job_id": job_id,
        "run_dir": str(run_dir),
        "base": {"path": base.path, "format": base.format, "name": base.name, "info": base.info},
        "options": job_options(options),
        "train_file": "train.jsonl",
        "eval_file": "eval.jsonl",
        **({"prefs_file": PREFS_FILE, "eval_prefs_file": EVAL_PREFS_FILE} if preferences else {}),
        "cache_dir": str(cache_dir or paths.cache_dir()),
    }
    path = Path(run_dir) / JOB_FILE
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def get_job(session: Session, job_id: int) -> JobRef:
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise LookupError(f"Training job {job_id} no longer exists.")
    return JobRef.of(job)


def list_jobs(session: Session) -> list[JobRef]:
    return [JobRef.of(j) for j in session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()))]


def mark_started(session: Session, job_id: int, pid: int, pid_started: float | None) -> None:
    job = session.get(TrainingJob, job_id)
    job.status, job.pid, job.pid_started = JobStatus.RUNNING, pid, pid_started
    job.started_at = job.started_at or utcnow()
    job.error = job.finished_at = None


def mark_ended(session: Session, job_id: int, status: str, error: str | None = None) -> None:
    job = session.get(TrainingJob, job_id)
    if job.status in JobStatus.ENDED and status != JobStatus.DONE:
        return  # the first verdict stands (a `done` event beats the exit code that follows it)
    job.status, job.error, job.pid = status, error, None
    job.finished_at = utcnow()


def apply_event(session: Session, job_id: int, event: dict) -> None:
    """Record one event from the child in the job row and its metrics."""
    job = session.get(TrainingJob, job_id)
    if job is None:
        return
    kind = event.get("event")
    if kind == "started":
        job.total_steps = int(event.get("total_steps") or 0)
        resumed = int(event.get("resumed_from") or 0)
        job.step = resumed
        reset_metrics_after(session, job_id, resumed)  # a resumed run redoes the steps after its checkpoint
        if not resumed:
            job.eval_loss_before = None
    elif kind == "step":
        job.step = int(event["step"])
        session.add(TrainingMetric(job_id=job_id, kind="step", step=job.step, loss=event.get("loss"),
                                   lr=event.get("lr"), tokens_per_s=event.get("tokens_per_s"),
                                   mem_mb=event.get("mem_mb")))
    elif kind == "eval":
        session.add(TrainingMetric(job_id=job_id, kind="eval", step=int(event["step"]), loss=event.get("eval_loss")))
        if job.eval_loss_before is None:
            job.eval_loss_before = event.get("eval_loss")
    elif kind == "done":
        job.eval_loss_before = event.get("eval_loss_before", job.eval_loss_before)
        job.eval_loss_after = event.get("eval_loss_after")
        job.step = job.total_steps or job.step
        mark_ended(session, job_id, JobStatus.DONE)
        register_adapter(session, job, event)
    elif kind == "error":
        mark_ended(session, job_id, JobStatus.FAILED, event.get("message") or "The training job failed.")


def reset_metrics_after(session: Session, job_id: int, step: int) -> None:
    """On resume from a checkpoint: points past it will be produced again."""
    for metric in session.scalars(select(TrainingMetric).where(TrainingMetric.job_id == job_id,
                                                               TrainingMetric.step > step)):
        session.delete(metric)


def register_adapter(session: Session, job: TrainingJob, event: dict) -> Adapter:
    """The finished job's adapter, as the next version of its assistant ("My assistant v3"; a job without an
    assistant is an assistant of its own, named as the job), with its evaluation figures."""
    existing = session.scalar(select(Adapter).where(Adapter.job_id == job.id))
    if existing is not None:
        return existing
    assistant = job.assistant or job.name
    found = get_assistant(session, assistant)
    version = found.next_number if found is not None else 1
    wanted = f"{job.assistant} v{version}" if job.assistant else job.name
    name, n = wanted, 2
    while session.scalar(select(Adapter.id).where(Adapter.name == name)) is not None:
        name, n = f"{wanted} ({n})", n + 1
    adapter = Adapter(name=name, job_id=job.id, base_model_id=job.base_model_id, base_name=job.base_name,
                      peft_dir=event["adapter_dir"], gguf_path=event.get("gguf_adapter"),
                      eval_loss_before=job.eval_loss_before, eval_loss_after=job.eval_loss_after, wins=0, losses=0,
                      notes="", assistant=assistant, version=version,
                      **{key: event.get(key) for key in PREF_FIELDS})
    session.add(adapter)
    session.flush()
    return adapter
