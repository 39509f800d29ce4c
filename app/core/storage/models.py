"""SQLAlchemy 2 ORM models. The Alembic migrations under `migrations/` create exactly this schema.

Every table whose id a person sees or something outside the database keeps (a conversation or message id in the
CLI and the training preview, a job's run folder, an adapter or model id given on the command line or held by the
engine) is AUTOINCREMENT: SQLite then never hands out an id again after its row is deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class MessageStatus:
    COMPLETE = "complete"
    STREAMING = "streaming"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class Model(Base):
    """A local model file (GGUF) or folder (Hugging Face) that Hearth can load."""

    __tablename__ = "model"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    format: Mapped[str] = mapped_column(String(16))  # "gguf" | "hf"
    source: Mapped[str] = mapped_column(String(16))  # "starter" | "local" | "hub"
    repo_id: Mapped[str | None] = mapped_column(String(300))
    revision: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)  # header metadata (arch, params, quant, ...)
    measured_memory: Mapped[dict[str, Any]] = mapped_column(default=dict)  # n_ctx -> peak bytes
    benchmark: Mapped[dict[str, Any]] = mapped_column(default=dict)  # prompt / generation tok/s on this machine
    hub_file: Mapped[str | None] = mapped_column(Text)  # the file inside repo_id it was downloaded from
    is_default: Mapped[bool] = mapped_column(default=False)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When loading it last killed the engine (an abort, a native crash); it is then never loaded by itself.
    load_crashed_at: Mapped[datetime | None] = mapped_column()


class Conversation(Base):
    """A chat. Deleting one only sets `deleted_at` (it waits in Recently deleted); see storage.conversations."""

    __tablename__ = "conversation"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300), default="New chat")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The leaf of the branch the user is looking at; the path to it is the visible thread.
    active_leaf_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    deleted_at: Mapped[datetime | None] = mapped_column()

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True, order_by="Message.id"
    )


class Message(Base):
    """One turn. Regenerations and edits are siblings (same parent); nothing is ever overwritten."""

    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("role IN ('system', 'user', 'assistant')", name="ck_message_role"),
        CheckConstraint(
            "status IN ('complete', 'streaming', 'interrupted', 'error')", name="ck_message_status"
        ),
        Index("ix_message_parent", "conversation_id", "parent_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.COMPLETE)
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    model_name: Mapped[str | None] = mapped_column(String(200))
    backend: Mapped[str | None] = mapped_column(String(32))  # "llama.cpp" | "transformers", set when it starts
    # No foreign key (see migration 0003): removing an adapter clears this itself.
    adapter_id: Mapped[int | None] = mapped_column(Integer)
    adapter_name: Mapped[str | None] = mapped_column(String(300))  # kept when the adapter is removed
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    # Which process is writing a streaming reply, so another process can tell a live stream from a dead one.
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    owner_started: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    feedback: Mapped[Feedback | None] = relationship(
        back_populates="message", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )


class Feedback(Base):
    """The user's verdict on one reply; corrected replies are what training learns from."""

    __tablename__ = "feedback"
    __table_args__ = (CheckConstraint("rating IN (-1, 0, 1)", name="ck_feedback_rating"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), unique=True)
    rating: Mapped[int] = mapped_column(Integer, default=0)
    correction: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    message: Mapped[Message] = relationship(back_populates="feedback")


class DownloadStatus:
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ACTIVE = (QUEUED, DOWNLOADING, VERIFYING)
    # Each of these owns its destination's partial file, so a file has at most one of them (a unique index);
    # done and cancelled rows are history and may repeat (a file fetched again after a cancel or a removal).
    UNFINISHED = (*ACTIVE, PAUSED, FAILED)


class Download(Base):
    """One file fetched from the hub. The partial file lives beside `dest_path` so a restart can resume it."""

    __tablename__ = "download"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'downloading', 'paused', 'verifying', 'done', 'failed', 'cancelled')",
            name="ck_download_status",
        ),
        Index(
            "ux_download_unfinished_dest",
            "dest_path",
            unique=True,
            sqlite_where=text("status IN (%s)" % ", ".join(f"'{s}'" for s in DownloadStatus.UNFINISHED)),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    repo_id: Mapped[str] = mapped_column(String(300))
    revision: Mapped[str] = mapped_column(String(64))  # the commit sha, pinned when the download is created
    filename: Mapped[str] = mapped_column(Text)
    dest_path: Mapped[str] = mapped_column(Text)
    total_bytes: Mapped[int] = mapped_column(Integer, default=0)
    bytes_done: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str | None] = mapped_column(String(64))  # expected, from the hub's LFS pointer
    status: Mapped[str] = mapped_column(String(16), default=DownloadStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class LibraryFolder(Base):
    """A folder the user added; its models are listed in place, never copied."""

    __tablename__ = "library_folder"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ENDED = (DONE, FAILED, CANCELLED)


class TrainingJob(Base):
    """One fine-tuning run. Its folder holds the job file, the dataset files, events.jsonl, checkpoints and the
    adapter; the row is what the app lists and re-attaches to (by pid and the events file) after a restart."""

    __tablename__ = "training_job"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="ck_job_status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    base_name: Mapped[str] = mapped_column(String(300))
    base_path: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(16))  # "lora" | "qlora"
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the spec and the built counts
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    run_dir: Mapped[str] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    pid_started: Mapped[float | None] = mapped_column(Float)  # the process's start time: a reused pid is not ours
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    eval_loss_before: Mapped[float | None] = mapped_column(Float)
    eval_loss_after: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    assistant: Mapped[str | None] = mapped_column(String(300))  # the assistant whose next version this trains
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    metrics: Mapped[list[TrainingMetric]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True, order_by="TrainingMetric.id"
    )


class TrainingMetric(Base):
    """One point of a job's curves: a training step (loss, learning rate, speed, memory) or an evaluation."""

    __tablename__ = "training_metric"
    __table_args__ = (Index("ix_metric_job_step", "job_id", "step"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("training_job.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "step" | "eval"
    step: Mapped[int] = mapped_column(Integer)
    loss: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    tokens_per_s: Mapped[float | None] = mapped_column(Float)
    mem_mb: Mapped[float | None] = mapped_column(Float)

    job: Mapped[TrainingJob] = relationship(back_populates="metrics")


class Adapter(Base):
    """A trained LoRA adapter: PEFT form for transformers, GGUF form for llama.cpp, and how it fared."""

    __tablename__ = "adapter"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("training_job.id", ondelete="SET NULL"))
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("model.id", ondelete="SET NULL"))
    base_name: Mapped[str] = mapped_column(String(300))
    peft_dir: Mapped[str] = mapped_column(Text)
    gguf_path: Mapped[str | None] = mapped_column(Text)
    eval_loss_before: Mapped[float | None] = mapped_column(Float)
    eval_loss_after: Mapped[float | None] = mapped_column(Float)
    wins: Mapped[int] = mapped_column(Integer, default=0)  # blind A/B picks for the adapter
    losses: Mapped[int] = mapped_column(Integer, default=0)  # ... and for the base model
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Versions of one assistant (migration 0007): "My assistant" v1, v2, v3 …
    assistant: Mapped[str | None] = mapped_column(String(300))
    version: Mapped[int | None] = mapped_column(Integer)
    # Preference accuracy on held-out pairs: the share where the preferred reply gets the higher log-probability,
    # and the mean margin between the two, with the adapter off (before) and on (after).
    pref_pairs: Mapped[int | None] = mapped_column(Integer)
    pref_accuracy_before: Mapped[float | None] = mapped_column(Float)
    pref_accuracy_after: Mapped[float | None] = mapped_column(Float)
    pref_margin_before: Mapped[float | None] = mapped_column(Float)
    pref_margin_after: Mapped[float | None] = mapped_column(Float)
