"""Deciding what to download and where, before a byte moves: the commit pinned, sizes and sha256 recorded, access
and disk space checked. One GGUF file, or the loadable files of a Hugging Face model folder (never pickles)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import paths
from app.core.library import hub
from app.core.library.hub import HubError, HubFile, RepoListing
from app.core.storage.db import Database
from app.core.storage.models import Download, DownloadStatus
from app.core.units import format_bytes

SPACE_MARGIN = 0.05  # refuse unless size + 5% fits: a disk filled to the last byte makes everything else fail
UNFINISHED = DownloadStatus.UNFINISHED
# What transformers needs to load a model folder. Weights only as safetensors: .bin / .pt / .pth / .ckpt are
# pickles, and unpickling a stranger's file can run their code.
_FOLDER_FILES = re.compile(
    r"(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens|preprocessor_config"
    r"|vocab|chat_template|model\.safetensors\.index)\.json|tokenizer\.model|vocab\.txt|merges\.txt"
    r"|chat_template\.jinja|[^/]+\.safetensors"
)

FreeSpace = Callable[[Path], int]


@dataclass(frozen=True)
class DownloadPlan:
    """What asking for a download came to: one download id per file, in order. When every file had been asked
    for before, nothing was added and `already` says how far they are: "downloading" (not finished: paused and
    failed ones included, they resume) or "downloaded"."""

    ids: tuple[int, ...]
    what: str
    already: str | None = None

    @property
    def notice(self) -> str | None:
        """The line to show for a repeated request; None for a new one."""
        if self.already == "downloading":
            return f"{self.what} is already downloading, so it was not added again."
        if self.already == "downloaded":
            return f"{self.what} is already downloaded, so it was not fetched again."
        return None


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def lock_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.lock")


def disk_free(path: Path) -> int:
    """Free bytes on the disk that holds `path` (or would hold it, for a folder not made yet)."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def repo_folder(repo_id: str) -> Path:
    return paths.models_dir() / repo_id.replace("/", "__")


def check_space(what: str, folder: Path, needed: int, free_space: FreeSpace) -> None:
    free = free_space(folder)
    if needed > free:
        raise HubError(
            "disk_full",
            f"Not enough disk space for {what}: it needs {format_bytes(needed)} (with a 5% margin) but "
            f"{folder} has only {format_bytes(free)} free. Free up {format_bytes(needed - free)} or choose another "
            "folder.",
        )


def plan_download(
    db: Database,
    repo_id: str,
    filename: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> DownloadPlan:
    """Plan one file's download (queued, not started); raises HubError.

    Asking again for the same repo, file and commit, also from another thread or window at the same moment,
    gives the existing download (unfinished, or done with its file still there) and says so, instead of a
    duplicate.
    """
    listing = hub.repo_files(repo_id, revision)
    entry = listing.file(filename)
    if entry is None:
        raise hub.missing_file_error(repo_id, filename)
    folder = Path(dest_dir) if dest_dir else repo_folder(repo_id)
    return _plan(db, listing, [entry], folder, filename, free_space)


def create_download(
    db: Database,
    repo_id: str,
    filename: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> int:
    """`plan_download` for callers that only need the id (new or existing)."""
    return plan_download(db, repo_id, filename, revision, dest_dir, free_space=free_space).ids[0]


def folder_files(listing: RepoListing) -> list[HubFile]:
    """The files of a Hugging Face model folder worth fetching; raises HubError when it has no usable weights."""
    wanted = [f for f in listing.files if _FOLDER_FILES.fullmatch(f.filename)]
    if not any(f.filename == "config.json" for f in wanted):
        raise HubError(
            "not_found",
            f"{listing.repo_id} is not a Transformers model folder (it has no config.json). Pick a GGUF file "
            "from it, or another repo.",
        )
    if not any(f.filename.endswith(".safetensors") for f in wanted):
        raise HubError(
            "not_found",
            f"{listing.repo_id} has no .safetensors weights, only formats Hearth does not load (pickled .bin / .pt "
            "files can run code when opened). Pick a repo that offers safetensors or GGUF.",
        )
    return wanted


def plan_folder_download(
    db: Database,
    repo_id: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> DownloadPlan:
    """Plan a Hugging Face model folder: config, tokenizer and safetensors files into one folder, registered as
    one model when the last of them is in. One download id per file; raises HubError."""
    listing = hub.repo_files(repo_id, revision)
    files = folder_files(listing)
    folder = Path(dest_dir) if dest_dir else repo_folder(repo_id)
    return _plan(db, listing, files, folder, f"{repo_id} ({len(files)} files)", free_space)


def create_folder_download(
    db: Database,
    repo_id: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> list[int]:
    """`plan_folder_download` for callers that only need the ids."""
    return list(plan_folder_download(db, repo_id, revision, dest_dir, free_space=free_space).ids)


def _plan(
    db: Database, listing: RepoListing, entries: list[HubFile], folder: Path, what: str, free_space: FreeSpace
) -> DownloadPlan:
    biggest = max(entries, key=lambda e: e.size)
    hub.check_file(listing.repo_id, biggest.filename, listing.revision)  # gated / private fail now, not mid-way
    # From the look for an earlier request to the insert, one transaction holding the write lock: a second plan
    # of the same files (a double click, another thread or window) waits for this one, then finds its rows.
    with db.write_session() as session:
        found = _planned_before(session, listing, entries)
        new = [e for e in entries if e.filename not in found]
        if not new:
            done = all(row.status == DownloadStatus.DONE for row in found.values())
            ids = tuple(found[e.filename].id for e in entries)
            return DownloadPlan(ids, what, already="downloaded" if done else "downloading")
        busy = set(session.scalars(select(Download.dest_path).where(Download.status.in_(UNFINISHED))))
        if any((folder / e.filename).exists() or str(folder / e.filename) in busy for e in new):
            folder = folder / listing.revision[:12]  # another revision of these files is there: keep both
        for entry in new:
            part_path(folder / entry.filename).unlink(missing_ok=True)  # left without a record: cannot be trusted
        check_space(what, folder, int(sum(e.size for e in new) * (1 + SPACE_MARGIN)), free_space)
        ids = {name: row.id for name, row in found.items()}
        for entry in new:
            row = Download(
                repo_id=listing.repo_id,
                revision=listing.revision,
                filename=entry.filename,
                dest_path=str(folder / entry.filename),
                total_bytes=entry.size,
                bytes_done=0,
                sha256=entry.sha256,
                status=DownloadStatus.QUEUED,
            )
            session.add(row)
            session.flush()
            ids[entry.filename] = row.id
    return DownloadPlan(tuple(ids[e.filename] for e in entries), what)


def _planned_before(session: Session, listing: RepoListing, entries: list[HubFile]) -> dict[str, Download]:
    """The earlier downloads of these files at this commit that still count: unfinished, or done with the file
    still there (a finished file whose model was removed with its files is fetched again)."""
    found: dict[str, Download] = {}
    for entry in entries:
        same = session.scalars(
            select(Download).where(
                Download.repo_id == listing.repo_id,
                Download.filename == entry.filename,
                Download.revision == listing.revision,
            )
        ).all()
        for row in same:
            if row.status in UNFINISHED or (row.status == DownloadStatus.DONE and Path(row.dest_path).exists()):
                found[entry.filename] = row
    return found
