"""Deciding what to download and where, before a byte moves: the commit pinned, sizes and sha256 recorded, access
and disk space checked. One GGUF file, or the loadable files of a Hugging Face model folder (never pickles)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from app import paths
from app.core.library import hub
from app.core.library.download_stats import format_bytes
from app.core.library.hub import HubError, HubFile, RepoListing
from app.core.storage.db import Database
from app.core.storage.models import Download, DownloadStatus

SPACE_MARGIN = 0.05  # refuse unless size + 5% fits: a disk filled to the last byte makes everything else fail
UNFINISHED = (*DownloadStatus.ACTIVE, DownloadStatus.PAUSED, DownloadStatus.FAILED)
# What transformers needs to load a model folder. Weights only as safetensors: .bin / .pt / .pth / .ckpt are
# pickles, and unpickling a stranger's file can run their code.
_FOLDER_FILES = re.compile(
    r"(config|generation_config|tokenizer|tokenizer_config|special_tokens_map|added_tokens|preprocessor_config"
    r"|vocab|chat_template|model\.safetensors\.index)\.json|tokenizer\.model|vocab\.txt|merges\.txt"
    r"|chat_template\.jinja|[^/]+\.safetensors"
)

FreeSpace = Callable[[Path], int]


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


def create_download(
    db: Database,
    repo_id: str,
    filename: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> int:
    """Plan one file's download (queued, not started). Returns its id; raises HubError.

    Asking again for the same repo, file and commit returns the existing download (unfinished, or done with
    its file still there) instead of a duplicate.
    """
    listing = hub.repo_files(repo_id, revision)
    entry = listing.file(filename)
    if entry is None:
        raise hub.missing_file_error(repo_id, filename)
    folder = Path(dest_dir) if dest_dir else repo_folder(repo_id)
    return _plan(db, listing, [entry], folder, filename, free_space)[0]


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


def create_folder_download(
    db: Database,
    repo_id: str,
    revision: str | None = None,
    dest_dir: Path | None = None,
    *,
    free_space: FreeSpace = disk_free,
) -> list[int]:
    """Plan a Hugging Face model folder: config, tokenizer and safetensors files into one folder, registered as
    one model when the last of them is in. Returns one download id per file; raises HubError."""
    listing = hub.repo_files(repo_id, revision)
    files = folder_files(listing)
    folder = Path(dest_dir) if dest_dir else repo_folder(repo_id)
    return _plan(db, listing, files, folder, f"{repo_id} ({len(files)} files)", free_space)


def _plan(
    db: Database, listing: RepoListing, entries: list[HubFile], folder: Path, what: str, free_space: FreeSpace
) -> list[int]:
    ids: dict[str, int] = {}
    with db.session() as session:
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
                    ids[entry.filename] = row.id
        busy = {r.dest_path for r in session.scalars(select(Download).where(Download.status.in_(UNFINISHED)))}
    new = [e for e in entries if e.filename not in ids]
    if not new:
        return [ids[e.filename] for e in entries]
    if any((folder / e.filename).exists() or str(folder / e.filename) in busy for e in new):
        folder = folder / listing.revision[:12]  # another revision of these files is there: keep both
    for entry in new:
        part_path(folder / entry.filename).unlink(missing_ok=True)  # left without a record: cannot be trusted
    check_space(what, folder, int(sum(e.size for e in new) * (1 + SPACE_MARGIN)), free_space)
    biggest = max(new, key=lambda e: e.size)
    hub.check_file(listing.repo_id, biggest.filename, listing.revision)  # gated / private fail now, not mid-way
    with db.session() as session:
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
    return [ids[e.filename] for e in entries]
