"""Finding models on disk: the models folder and folders the user adds, plus importing a file or folder.

A scan only reads headers of files not yet in the library, so a second scan of 50 models costs a directory walk
and one query. Files that vanished stay listed (marked missing by the UI) until the user removes them: a
disconnected drive should not erase the library.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import paths
from app.core.engine.gguf_check import GGUFError
from app.core.library.metadata import (
    SUMMARY_VERSION,
    ModelFolderError,
    folder_size,
    is_hf_folder,
    is_split_shard,
    summarise,
)
from app.core.library.registry import ModelRef, register_model
from app.core.storage.models import LibraryFolder, Model
from app.core.units import format_bytes

log = logging.getLogger(__name__)

MAX_DEPTH = 4  # models/<owner>__<repo>/<subfolder>/<file> is as deep as real layouts go
SKIP_DIRS = {".quarantine", ".git", "__pycache__", ".cache", "node_modules"}


@dataclass
class ScanReport:
    added: list[ModelRef] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one readable line per file that could not be added
    seen: int = 0


def library_folders(session: Session) -> list[Path]:
    return [Path(p) for p in session.scalars(select(LibraryFolder.path).order_by(LibraryFolder.id))]


def model_folders(session: Session) -> list[Path]:
    """Everywhere models live: the models folder first, then the folders the user added."""
    return [paths.models_dir(), *library_folders(session)]


def add_folder(session: Session, folder: Path) -> Path:
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder.")
    if session.scalar(select(LibraryFolder).where(LibraryFolder.path == str(folder))) is None:
        session.add(LibraryFolder(path=str(folder)))
        session.flush()
    return folder


def remove_folder(session: Session, folder: Path) -> None:
    row = session.scalar(select(LibraryFolder).where(LibraryFolder.path == str(Path(folder).resolve())))
    if row is not None:
        session.delete(row)


def find_candidates(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    """GGUF files and Hugging Face folders under root, without following symlinked folders (no cycles)."""
    if is_hf_folder(root):
        yield root
        return
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        log.warning("cannot list %s: %s", root, exc)
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name in SKIP_DIRS:
            continue
        if entry.is_file() and entry.name.lower().endswith(".gguf"):
            path = Path(entry.path)
            if not is_split_shard(path) and "mmproj" not in entry.name.lower():
                yield path
        elif entry.is_dir(follow_symlinks=False) and depth > 0:
            yield from find_candidates(Path(entry.path), depth - 1)


def scan(session: Session, extra: list[Path] | None = None) -> ScanReport:
    """Register every model found in the models folder and the user's folders that is not yet known."""
    report = ScanReport()
    _refresh_old_summaries(session)
    known = set(session.scalars(select(Model.path)))
    roots = [paths.models_dir(), *library_folders(session), *(extra or [])]
    for root in roots:
        if not root.is_dir():
            report.problems.append(f"{root}: the folder is not there (a disconnected drive?). Its models stay listed.")
            continue
        for candidate in find_candidates(root):
            report.seen += 1
            if str(candidate.resolve()) in known:
                continue
            try:
                model = register_model(session, candidate)
            except (GGUFError, ModelFolderError, OSError) as exc:
                report.problems.append(str(exc))
                continue
            known.add(model.path)
            report.added.append(ModelRef.of(model))
    return report


def _refresh_old_summaries(session: Session) -> None:
    for model in session.scalars(select(Model)):
        if (model.info or {}).get("v") != SUMMARY_VERSION and Path(model.path).exists():
            try:
                model.info = summarise(Path(model.path), model.format)
            except (GGUFError, ModelFolderError, OSError) as exc:
                log.warning("cannot re-read %s: %s", model.path, exc)


def import_model(session: Session, source: Path, *, copy: bool, name: str | None = None) -> ModelRef:
    """Add one model file or folder. With copy, it goes into the models folder first (checked for space);
    without, it is used where it is. A folder of several models is added as a library folder instead."""
    source = Path(source).expanduser().resolve()
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.")
    if source.is_dir() and not is_hf_folder(source):
        raise ValueError(
            f"{source.name} is a folder but not a Hugging Face model (config.json with .safetensors). "
            "To list every model inside it, use Add folder."
        )
    target = source
    if copy:
        target = _copy_into_library(source)
    try:
        return ModelRef.of(register_model(session, target, name=name, source="local"))
    except (GGUFError, ModelFolderError):
        if copy and target != source:  # do not leave a useless copy behind
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
        raise


def _copy_into_library(source: Path) -> Path:
    dest = paths.models_dir() / source.name
    if dest.exists():
        raise FileExistsError(f"{dest.name} is already in the models folder. Rename the file or import it in place.")
    size = folder_size(source) if source.is_dir() else source.stat().st_size
    free = shutil.disk_usage(paths.models_dir()).free
    if size > free:
        raise OSError(
            f"Not enough disk space to copy {source.name}: it needs {format_bytes(size)} and "
            f"{format_bytes(free)} is free. Free some space or import it in place."
        )
    partial = dest.with_name(dest.name + ".copying")
    try:
        if source.is_dir():
            shutil.copytree(source, partial)
        else:
            shutil.copyfile(source, partial)
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True) if partial.is_dir() else partial.unlink(missing_ok=True)
        raise
    return dest
