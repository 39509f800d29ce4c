"""The model registry: which models Hearth knows about, which is the default, and registering the starter."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.engine.gguf_check import GGUFError
from app.core.library.metadata import folder_size, is_hf_folder, summarise_gguf, summarise_hf_folder
from app.core.library.starter import STARTER_NAME, starter_model_path
from app.core.storage.db import Database
from app.core.storage.models import Model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelRef:
    """A detached, read-only view of a registered model."""

    id: int
    name: str
    path: str
    format: str
    source: str
    size_bytes: int
    is_default: bool
    info: dict[str, Any]
    repo_id: str | None = None
    revision: str | None = None
    sha256: str | None = None
    measured_memory: dict[str, Any] | None = None
    benchmark: dict[str, Any] | None = None
    load_crashed_at: str | None = None  # ISO time loading it last killed the engine (see load_crash)

    @classmethod
    def of(cls, m: Model) -> ModelRef:
        return cls(
            m.id, m.name, m.path, m.format, m.source, m.size_bytes, m.is_default, dict(m.info or {}),
            m.repo_id, m.revision, m.sha256, dict(m.measured_memory or {}), dict(m.benchmark or {}),
            m.load_crashed_at.isoformat(timespec="seconds") if m.load_crashed_at else None,
        )

    @property
    def exists(self) -> bool:
        return Path(self.path).exists()


def model_format(path: Path) -> str | None:
    """'gguf' for a .gguf file, 'hf' for a Hugging Face folder, None for anything else."""
    if path.is_file() and path.suffix.lower() == ".gguf":
        return "gguf"
    if is_hf_folder(path):
        return "hf"
    return None


def register_model(
    session: Session,
    path: Path,
    *,
    name: str | None = None,
    source: str = "local",
    make_default: bool = False,
    repo_id: str | None = None,
    revision: str | None = None,
    sha256: str | None = None,
    hub_file: str | None = None,
) -> Model:
    """Register a GGUF file or a Hugging Face folder, reading only its header. Raises GGUFError / ModelFolderError."""
    path = Path(path).resolve()
    existing = session.scalar(select(Model).where(Model.path == str(path)))
    if existing is not None:
        return existing
    fmt = model_format(path)
    if fmt == "gguf":
        info, size = summarise_gguf(path), path.stat().st_size
    elif fmt == "hf":
        info, size = summarise_hf_folder(path), folder_size(path)
    else:
        raise GGUFError(
            f"{path.name}: not a model Hearth can open. Pick a .gguf file or a Hugging Face folder "
            "(config.json with .safetensors weights)."
        )
    model = Model(
        name=_unique_name(session, name or default_name(path)),
        path=str(path),
        format=fmt,
        source=source,
        size_bytes=size,
        info=info,
        is_default=False,
        repo_id=repo_id,
        revision=revision,
        sha256=sha256,
        hub_file=hub_file,
    )
    session.add(model)
    session.flush()
    if make_default or session.scalar(select(Model).where(Model.is_default)) is None:
        set_default(session, model.id)
    return model


def default_name(path: Path) -> str:
    return path.stem if path.is_file() else path.name


def _unique_name(session: Session, name: str) -> str:
    candidate, n = name, 2
    while session.scalar(select(Model.id).where(Model.name == candidate)) is not None:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def rename_model(session: Session, model_id: int, new_name: str) -> str:
    """Rename; returns the name actually given (a clash gets a number appended). Raises ValueError if blank."""
    new_name = new_name.strip()
    if not new_name:
        raise ValueError("A model needs a name.")
    model = _require(session, model_id)
    if model.name != new_name:
        model.name = _unique_name(session, new_name)
    return model.name


@dataclass(frozen=True)
class Removal:
    """A model taken out of the library (committed), with the files still to delete once nothing has them open."""

    model_id: int
    name: str
    files: tuple[str, ...] = ()


def forget_model(db: Database, model_id: int, *, delete_files: bool = False) -> Removal:
    """Take a model out of the library and commit; nothing is deleted from disk yet.

    Its files go afterwards (delete_model_files), once whatever had the model loaded has let go: so a failed
    commit leaves the model listed with its files, and a failed delete leaves a file a rescan can list again,
    never a listed model whose file is gone. The starter model's file belongs to the installed app and stays.
    """
    with db.session() as session:
        model = _require(session, model_id)
        if delete_files and model.source == "starter":
            raise ValueError("The starter model comes with Hearth; it can be removed from the list but its file stays.")
        path = Path(model.path)
        removal = Removal(model.id, model.name, (str(path),) if delete_files and path.exists() else ())
        was_default = model.is_default
        session.delete(model)
        session.flush()
        if was_default:
            first = session.scalar(select(Model).order_by(Model.id))
            if first is not None:
                first.is_default = True
    return removal


def delete_model_files(removal: Removal) -> list[str]:
    """Delete a removed model's file or folder; returns the paths deleted. Raises OSError saying what is left."""
    deleted: list[str] = []
    for name in removal.files:
        path = Path(name)
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            raise OSError(
                f"{removal.name} was removed from the library, but {path} could not be deleted "
                f"({exc.strerror or exc}). Delete it yourself; until then a rescan may list it again."
            ) from exc
        deleted.append(name)
    return deleted


def remove_model(db: Database, model_id: int, *, delete_files: bool = False) -> list[str]:
    """Forget a model, then delete its files: for callers that cannot have it loaded (the command line)."""
    return delete_model_files(forget_model(db, model_id, delete_files=delete_files))


def record_measured_memory(session: Session, model_id: int, n_ctx: int, backend: str, peak_bytes: int) -> None:
    """Keep the highest memory seen for this model, context size and backend (a load, then each reply)."""
    model = session.get(Model, model_id)
    if model is None:
        return
    key = f"{backend}:{n_ctx}"
    measured = dict(model.measured_memory or {})
    if peak_bytes > int(measured.get(key, 0)):
        measured[key] = int(peak_bytes)
        model.measured_memory = measured


def measured_peak(ref: ModelRef, n_ctx: int, backend: str = "llama.cpp") -> int | None:
    value = (ref.measured_memory or {}).get(f"{backend}:{n_ctx}")
    return int(value) if value else None


def record_benchmark(session: Session, model_id: int, result: dict[str, Any]) -> None:
    model = _require(session, model_id)
    model.benchmark = dict(result)


def _require(session: Session, model_id: int) -> Model:
    model = session.get(Model, model_id)
    if model is None:
        raise LookupError(f"Model {model_id} is no longer in the library.")
    return model


def set_default(session: Session, model_id: int) -> None:
    session.execute(update(Model).values(is_default=False))
    session.execute(update(Model).where(Model.id == model_id).values(is_default=True))


def list_models(session: Session) -> list[ModelRef]:
    return [ModelRef.of(m) for m in session.scalars(select(Model).order_by(Model.name))]


def get_model(session: Session, model_id: int) -> ModelRef | None:
    m = session.get(Model, model_id)
    return ModelRef.of(m) if m else None


def find_model(session: Session, name_or_id: str) -> ModelRef | None:
    """Look a model up by id, exact name, or a unique case-insensitive part of its name."""
    if name_or_id.isdigit():
        found = get_model(session, int(name_or_id))
        if found:
            return found
    models = list_models(session)
    exact = [m for m in models if m.name.lower() == name_or_id.lower()]
    partial = [m for m in models if name_or_id.lower() in m.name.lower()]
    matches = exact or partial
    return matches[0] if len(matches) == 1 else None


def default_model(session: Session) -> ModelRef | None:
    m = session.scalar(select(Model).where(Model.is_default)) or session.scalar(select(Model).order_by(Model.id))
    return ModelRef.of(m) if m else None


def ensure_starter_registered(session: Session) -> ModelRef | None:
    """Register the bundled starter model on first start (cheap after that: one query)."""
    path = starter_model_path()
    if path is None:
        return None
    existing = session.scalar(select(Model).where(Model.path == str(path.resolve())))
    if existing is not None:
        return ModelRef.of(existing)
    stale = session.scalar(select(Model).where(Model.source == "starter"))
    if stale is not None:  # the environment moved (new venv): point the old record at the new file
        stale.path = str(path.resolve())
        return ModelRef.of(stale)
    try:
        return ModelRef.of(register_model(session, path, name=STARTER_NAME, source="starter"))
    except GGUFError as exc:
        log.error("starter model unusable: %s", exc)
        return None
