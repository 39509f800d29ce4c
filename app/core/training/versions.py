"""Versions of one assistant: the adapters trained for it (v1, v2, v3 …) with how each fared, how many replies were
rated since the latest, the nudge to train the next one, and the settings that next job starts from.

An adapter trained before assistants had versions (no `assistant` stored) is an assistant of its own, named as
the adapter is, so every adapter appears somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.core.library.registry import ModelRef, get_model
from app.core.storage.conversations import NOT_DELETED
from app.core.storage.models import Adapter, Conversation, Feedback, JobStatus, Message, TrainingJob
from app.core.training.dataset import DatasetSpec
from app.core.training.examples import rated_api_replies
from app.core.training.options import job_options

# What the recipe chooses from the data when `fit_to_data` is on: the next version's data differ, so it chooses again.
FITTED_OPTIONS = ("max_steps", "learning_rate", "eval_every")
ACTIVE_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Version:
    """One adapter as a version of its assistant, with its evaluation figures and blind A/B record."""

    id: int  # the adapter's id: a version is an adapter
    name: str  # the adapter's own (unique) name
    assistant: str
    number: int
    base_name: str
    base_model_id: int | None
    job_id: int | None
    created_at: datetime
    eval_loss_before: float | None
    eval_loss_after: float | None
    pref_pairs: int | None
    pref_accuracy_before: float | None
    pref_accuracy_after: float | None
    pref_margin_before: float | None
    pref_margin_after: float | None
    wins: int
    losses: int
    notes: str

    @property
    def label(self) -> str:
        return f"{self.assistant} v{self.number}"


@dataclass(frozen=True)
class Assistant:
    name: str
    versions: tuple[Version, ...]  # oldest first

    @property
    def latest(self) -> Version:
        return self.versions[-1]

    @property
    def next_number(self) -> int:
        return self.latest.number + 1


@dataclass(frozen=True)
class Nudge:
    assistant: str
    latest: Version
    count: int  # replies rated since the latest version
    text: str  # "23 replies rated since My assistant v2 — train v3?"

    @property
    def next_number(self) -> int:
        return self.latest.number + 1


@dataclass(frozen=True)
class NextJob:
    """What one click on "Train v3" starts: the last job's base model and options, and its dataset spec opened to
    every rated reply (the new feedback is anywhere, not only in the chats the last job learned from)."""

    assistant: str
    number: int
    base: ModelRef
    options: dict  # as given to create_job: the ones that differ from their defaults (see given_options)
    spec: DatasetSpec

    @property
    def name(self) -> str:
        return f"{self.assistant} v{self.number}"


def assistant_of(row: Adapter) -> str:
    return row.assistant or row.name


def _version(row: Adapter, assistant: str, number: int) -> Version:
    return Version(row.id, row.name, assistant, number, row.base_name, row.base_model_id, row.job_id, row.created_at,
                   row.eval_loss_before, row.eval_loss_after, row.pref_pairs, row.pref_accuracy_before,
                   row.pref_accuracy_after, row.pref_margin_before, row.pref_margin_after, row.wins or 0,
                   row.losses or 0, row.notes or "")


def list_assistants(session: Session) -> list[Assistant]:
    """Every assistant with its versions, the one with the newest version first."""
    groups: dict[str, list[Adapter]] = {}
    for row in session.scalars(select(Adapter).order_by(Adapter.created_at, Adapter.id)):
        groups.setdefault(assistant_of(row), []).append(row)
    assistants = []
    for name, rows in groups.items():
        rows.sort(key=lambda r: (r.version or 0, r.created_at, r.id))
        # A version number is stored from the data; one missing (an adapter from before versions) is its place.
        versions = tuple(_version(r, name, r.version or i) for i, r in enumerate(rows, start=1))
        assistants.append(Assistant(name, versions))
    assistants.sort(key=lambda a: (a.latest.created_at, a.latest.id), reverse=True)
    return assistants


def get_assistant(session: Session, name: str) -> Assistant | None:
    return next((a for a in list_assistants(session) if a.name == name), None)


def learned_until(session: Session, version: Version) -> datetime:
    """When the version's data was taken: its job's start (the dataset is built then), else the adapter's making.
    A reply rated while the job trained is not in that version, so it counts towards the next one."""
    job = session.get(TrainingJob, version.job_id) if version.job_id is not None else None
    return min(job.created_at, version.created_at) if job is not None and job.created_at else version.created_at


def rated_since(session: Session, assistant: str) -> int:
    """Replies rated (thumbs up or down, or corrected) since the assistant's latest version took its data, in chats
    not deleted and in kept API exchanges; all rated replies when it has no version yet."""
    found = get_assistant(session, assistant)
    query = (
        select(func.count(Feedback.id)).join(Message, Message.id == Feedback.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == "assistant", NOT_DELETED, or_(Feedback.rating != 0, Feedback.correction.is_not(None)))
    )
    if found is not None:
        query = query.where(Feedback.updated_at > learned_until(session, found.latest))
    return session.scalar(query) or 0


def job_in_progress(session: Session) -> bool:
    return session.scalar(select(TrainingJob.id).where(TrainingJob.status.in_(ACTIVE_JOB)).limit(1)) is not None


def nudge_text(count: int, latest: Version) -> str:
    replies = "reply" if count == 1 else "replies"
    return f"{count} {replies} rated since {latest.label} — train v{latest.number + 1}?"


def nudge(session: Session, threshold: int) -> Nudge | None:
    """The suggestion to train the newest assistant's next version, once `threshold` replies were rated since its
    latest one; None when the threshold is 0 (never), not reached, there is no assistant yet (the first version
    starts from the New job page) or a job is already training (it would learn from the same replies)."""
    if threshold <= 0 or job_in_progress(session):
        return None
    assistants = list_assistants(session)
    if not assistants:
        return None
    current = assistants[0]
    count = rated_since(session, current.name)
    if count < threshold:
        return None
    return Nudge(current.name, current.latest, count, nudge_text(count, current.latest))


def given_options(stored: dict | None) -> dict:
    """A past job's options as the New job form gives them to create_job: those that differ from their defaults,
    and, with `fit_to_data` on, without the steps, learning rate and cadence the recipe chose for that job's data
    (so it chooses again for the new data; a default left in would count as set by hand)."""
    options = job_options(stored)
    defaults = job_options()
    given = {key: value for key, value in options.items() if value != defaults[key]}
    if options["fit_to_data"]:
        for key in FITTED_OPTIONS:
            given.pop(key, None)
    return given


def _last_job(session: Session, assistant: Assistant) -> TrainingJob | None:
    job = session.get(TrainingJob, assistant.latest.job_id) if assistant.latest.job_id is not None else None
    if job is None:  # the latest version's job row is gone: the assistant's most recent job stands in
        job = session.scalar(select(TrainingJob).where(TrainingJob.assistant == assistant.name)
                             .order_by(TrainingJob.id.desc()).limit(1))
    return job


def next_job_settings(session: Session, assistant: str) -> NextJob:
    """The next version's job, from the last job's settings; LookupError (saying what to do) when there is none to
    repeat or its base model left the library."""
    found = get_assistant(session, assistant)
    if found is None:
        raise LookupError(f"There is no assistant called {assistant!r}; train one on the New job page.")
    job = _last_job(session, found)
    if job is None:
        raise LookupError(f"{found.latest.label} has no training job to repeat; start the next version from the "
                          "New job page.")
    base = get_model(session, job.base_model_id) if job.base_model_id is not None else None
    if base is None:
        raise LookupError(f"{found.latest.label} was trained on {job.base_name}, which is no longer in the library; "
                          "add it again in Models, or start the next version from the New job page.")
    options = given_options(job.options)
    resolved = job_options(options)
    spec = DatasetSpec.from_dict((job.dataset or {}).get("spec") or {})
    spec = replace(
        spec, conversations=True, conversation_ids=None,
        api_conversations=spec.api_conversations or rated_api_replies(session) > 0,
        jsonl_files=[f for f in spec.jsonl_files if Path(f).is_file()],
        writing_folder=spec.writing_folder if spec.writing_folder and Path(spec.writing_folder).is_dir() else None,
        max_length=resolved["max_length"], overflow=resolved["overflow"], seed=resolved["seed"],
    )
    return NextJob(found.name, found.next_number, base, options, spec)
