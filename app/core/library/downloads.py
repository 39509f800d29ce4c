"""Downloads from the hub into the models folder: pinned to a commit, resumable (also after a restart), hashed as
the bytes arrive, checked against the hub's sha256, then registered in the library.

No Qt here. `run_download` blocks and is meant for a worker thread, one per download; it reports progress through
a callback and is steered by a `DownloadControl` (pause / cancel) that other threads may poke.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filelock
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import paths
from app.core.library import registry
from app.core.library.download_planning import (  # re-exported: callers plan and run downloads through here
    SPACE_MARGIN,
    DownloadPlan,
    FreeSpace,
    check_space,
    create_download,
    create_folder_download,
    disk_free,
    lock_path,
    part_path,
    plan_download,
    plan_folder_download,
)
from app.core.library.download_stats import TransferStats
from app.core.library.download_transfer import TransferFailed, fetch, hash_file
from app.core.library.hub import HubError
from app.core.storage.db import Database
from app.core.storage.models import Download, DownloadStatus, utcnow

__all__ = [
    "DownloadControl", "DownloadInfo", "DownloadPlan", "DownloadProgress", "create_download", "create_folder_download",
    "delete_download", "disk_free", "get_download", "list_downloads", "part_path", "plan_download",
    "plan_folder_download", "resume_interrupted", "run_download",
]  # fmt: skip

log = logging.getLogger(__name__)

DB_EVERY_S = 0.5
PROGRESS_EVERY_S = 0.1
AUTO_RESUMES = 2  # a connection dropped mid-file is picked up again at once this many times before giving up


@dataclass(frozen=True)
class DownloadProgress:
    download_id: int
    done: int
    total: int
    speed_bps: float
    eta_s: float | None


@dataclass(frozen=True)
class DownloadInfo:
    """A detached copy of a download row. `error_kind` (a HubError kind, or "unusable": the file arrived intact
    but is not a model Hearth can open) is known only to the run that just ended; the database keeps the message."""

    id: int
    repo_id: str
    revision: str
    filename: str
    dest_path: str
    total_bytes: int
    bytes_done: int
    sha256: str | None
    status: str
    error: str | None
    model_id: int | None
    created_at: datetime
    updated_at: datetime
    can_resume: bool
    error_kind: str | None = None

    @classmethod
    def of(cls, row: Download, error_kind: str | None = None) -> DownloadInfo:
        can_resume = row.status in (DownloadStatus.PAUSED, DownloadStatus.FAILED, DownloadStatus.QUEUED)
        return cls(
            row.id, row.repo_id, row.revision, row.filename, row.dest_path, row.total_bytes, row.bytes_done,
            row.sha256, row.status, row.error, row.model_id, row.created_at, row.updated_at, can_resume, error_kind,
        )  # fmt: skip


class DownloadControl:
    """Pause and cancel flags, set from any thread, read by the download between network reads."""

    def __init__(self) -> None:
        self._pause = threading.Event()
        self._cancel = threading.Event()

    def pause(self) -> None:
        self._pause.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._pause.is_set() or self._cancel.is_set()


# ---- running ------------------------------------------------------------------------------------------------


def run_download(
    db: Database,
    download_id: int,
    control: DownloadControl | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    *,
    auto_resumes: int = AUTO_RESUMES,
    free_space: FreeSpace = disk_free,
) -> DownloadInfo:
    """Download (or resume) until done, paused, cancelled or failed; returns the final state. Blocking.

    Raises RuntimeError only when the same download is already running (in this or another Hearth process).
    """
    control = control or DownloadControl()
    with db.session() as session:
        row = session.get(Download, download_id)
        if row is None:
            raise ValueError(f"there is no download with id {download_id}")
        job = DownloadInfo.of(row)
    if job.status in (DownloadStatus.DONE, DownloadStatus.CANCELLED):
        return job
    dest = Path(job.dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(lock_path(dest), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise RuntimeError(f"{job.filename} is already being downloaded (in this or another Hearth window)") from None
    kind = None
    try:
        _set(db, download_id, status=DownloadStatus.DOWNLOADING, error=None)
        try:
            _run(db, job, control, on_progress, auto_resumes, free_space)
        except (TransferFailed, HubError) as failure:
            kind = failure.kind
            _fail(db, download_id, failure.message, dest)
        except Exception as exc:  # a worker thread has no one to raise to: record it, keep the part
            log.exception("download %s stopped unexpectedly", download_id)
            message = f"{job.filename} stopped unexpectedly ({exc}). The downloaded part is kept; press Resume."
            _fail(db, download_id, message, dest)
    finally:
        lock.release()
    with db.session() as session:
        row = session.get(Download, download_id)
        if row.status in (DownloadStatus.DONE, DownloadStatus.CANCELLED):
            lock_path(dest).unlink(missing_ok=True)
        return DownloadInfo.of(row, kind)


def _run(db, job: DownloadInfo, control, on_progress, auto_resumes: int, free_space: FreeSpace) -> None:
    dest = Path(job.dest_path)
    part = part_path(dest)
    if not part.exists() and dest.exists() and job.bytes_done == job.total_bytes:
        # The last run moved the file into place and stopped before registering it.
        hasher = hash_file(dest, control)
    else:
        have = _size(part)
        needed = job.total_bytes - have + int(job.total_bytes * SPACE_MARGIN)
        check_space(job.filename, dest.parent, needed, free_space)
        hasher = fetch(
            repo_id=job.repo_id,
            filename=job.filename,
            revision=job.revision,
            total=job.total_bytes,
            part=part,
            control=control,
            on_bytes=_reporter(db, job, have, on_progress),
            auto_resumes=auto_resumes,
        )
    if hasher is None:
        return _stopped(db, job, part, control)
    _set(db, job.id, status=DownloadStatus.VERIFYING, bytes_done=job.total_bytes)
    actual = hasher.hexdigest()
    if job.sha256 and actual != job.sha256:
        raise _quarantine(job, part if part.exists() else dest, actual)
    if part.exists():
        os.replace(part, dest)
    try:
        model_id = _register(db, job, dest, actual)
    except Exception as exc:
        log.warning("could not register %s: %s", dest, exc)
        raise TransferFailed(
            "unusable",
            f"{job.filename} was downloaded to {dest}, but Hearth cannot use it: {exc}. Pick another file from "
            f"{job.repo_id}.",
        ) from exc
    # A folder's file that is not the last one has no model yet: leave model_id for the last one to fill in.
    _set(db, job.id, status=DownloadStatus.DONE, error=None, **({"model_id": model_id} if model_id else {}))


_folder_lock = threading.Lock()  # two files of one folder finishing together must register it once


def _register(db: Database, job: DownloadInfo, dest: Path, sha256: str) -> int | None:
    """A GGUF file is a model by itself; any other file is part of a Hugging Face folder, which becomes a model
    when the last of its files is in (and it looks like a model folder)."""
    if dest.suffix.lower() == ".gguf":
        with db.session() as session:
            return registry.register_model(
                session, dest, name=Path(job.filename).stem, source="hub", repo_id=job.repo_id,
                revision=job.revision, sha256=sha256, hub_file=job.filename,
            ).id  # fmt: skip
    folder = dest.parent
    with _folder_lock, db.session() as session:
        # Marked done inside the lock, so of two files finishing together the second sees the first as done.
        session.get(Download, job.id).status = DownloadStatus.DONE
        siblings = [
            row
            for row in session.scalars(
                select(Download).where(Download.repo_id == job.repo_id, Download.revision == job.revision)
            )
            if Path(row.dest_path).parent == folder and row.status != DownloadStatus.CANCELLED
        ]
        if any(row.status != DownloadStatus.DONE for row in siblings):
            return None
        if registry.model_format(folder) != "hf":
            return None
        model = registry.register_model(
            session, folder, name=job.repo_id.rsplit("/", 1)[-1], source="hub", repo_id=job.repo_id,
            revision=job.revision,
        )  # fmt: skip
        for row in siblings:
            row.model_id = model.id
        return model.id


def _reporter(db, job: DownloadInfo, done: int, on_progress) -> Callable[[int], None]:
    """The callback for every network read: progress at most ten times a second, the database twice."""
    stats = TransferStats(job.total_bytes, done)
    last_report = last_db = 0.0

    def report(done: int) -> None:
        nonlocal last_report, last_db
        now = time.monotonic()
        if on_progress and (now - last_report >= PROGRESS_EVERY_S or done == job.total_bytes):
            last_report = now
            stats.update(done)
            on_progress(DownloadProgress(job.id, done, job.total_bytes, stats.speed_bps, stats.eta_s))
        if now - last_db >= DB_EVERY_S:
            last_db = now
            _set(db, job.id, bytes_done=done)

    return report


def _stopped(db, job: DownloadInfo, part: Path, control: DownloadControl) -> None:
    if control.cancelled:
        part.unlink(missing_ok=True)
        _set(db, job.id, status=DownloadStatus.CANCELLED, bytes_done=0, error=None)
    else:
        _set(db, job.id, status=DownloadStatus.PAUSED, bytes_done=_size(part), error=None)


def _quarantine(job: DownloadInfo, damaged: Path, actual: str) -> TransferFailed:
    folder = paths.models_dir() / ".quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{job.repo_id.replace('/', '__')}__{Path(job.filename).name}.{actual[:12]}"
    if damaged.exists():
        os.replace(damaged, target)
    return TransferFailed(
        "checksum",
        f"{job.filename} from {job.repo_id} arrived damaged: its SHA-256 starts {actual[:12]}, but the hub says it "
        f"should start {job.sha256[:12]}. It was moved to {target} and not added to the library. Download it again; "
        "if this keeps happening, something on the network (a proxy or antivirus) may be altering the data.",
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _fail(db: Database, download_id: int, message: str, dest: Path) -> None:
    _set(db, download_id, status=DownloadStatus.FAILED, error=message, bytes_done=_size(part_path(dest)))


def _set(db: Database, download_id: int, **values) -> None:
    with db.session() as session:
        session.execute(update(Download).where(Download.id == download_id).values(updated_at=utcnow(), **values))


# ---- housekeeping -------------------------------------------------------------------------------------------


def _owner_alive(dest: Path) -> bool:
    """Whether some thread or process holds this download's lock (the OS drops it when a process dies)."""
    lock = filelock.FileLock(lock_path(dest), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return True
    lock.release()
    return False


def resume_interrupted(db: Database) -> int:
    """At start-up: downloads left running by a process that has gone become paused, ready to resume."""
    count = 0
    with db.session() as session:
        rows = session.scalars(
            select(Download).where(Download.status.in_((DownloadStatus.DOWNLOADING, DownloadStatus.VERIFYING)))
        ).all()
        for row in rows:
            if _owner_alive(Path(row.dest_path)):
                continue
            row.status = DownloadStatus.PAUSED
            row.bytes_done = _size(part_path(Path(row.dest_path))) or row.bytes_done
            row.updated_at = utcnow()
            count += 1
    return count


def list_downloads(session: Session) -> list[DownloadInfo]:
    return [DownloadInfo.of(row) for row in session.scalars(select(Download).order_by(Download.id))]


def get_download(session: Session, download_id: int) -> DownloadInfo | None:
    row = session.get(Download, download_id)
    return DownloadInfo.of(row) if row else None


def delete_download(db: Database, download_id: int) -> None:
    """Forget a download that is not running, with its partial file. A finished file stays: it is in the library."""
    with db.session() as session:
        row = session.get(Download, download_id)
        if row is None:
            return
        dest = Path(row.dest_path)
        if _owner_alive(dest):
            raise RuntimeError(f"{row.filename} is still downloading; cancel it before removing it")
        if row.status in DownloadStatus.UNFINISHED:
            # Only an unfinished row owns the partial file; a done or cancelled one may share its destination
            # with a later download of the same file, whose part must survive "Clear finished".
            part_path(dest).unlink(missing_ok=True)
            lock_path(dest).unlink(missing_ok=True)
        session.delete(row)
