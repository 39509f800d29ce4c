"""The model registry: which models Hearth knows about, which is the default, and registering the starter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.core.engine.gguf_check import GGUFError, inspect_gguf
from app.core.library.starter import STARTER_NAME, starter_model_path
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

    @classmethod
    def of(cls, m: Model) -> ModelRef:
        return cls(m.id, m.name, m.path, m.format, m.source, m.size_bytes, m.is_default, dict(m.info or {}))


def summarise_gguf(path: Path) -> dict[str, Any]:
    info = inspect_gguf(path)
    arch = info.architecture
    meta = info.metadata
    return {
        "architecture": arch,
        "context_length": info.context_length,
        "layers": meta.get(f"{arch}.block_count"),
        "chat_template": bool(info.chat_template),
        "file_type": meta.get("general.file_type"),
        "size_label": meta.get("general.size_label"),
        "gguf_name": info.name,
    }


def register_gguf(session: Session, path: Path, *, name: str, source: str = "local", make_default: bool = False) -> Model:
    path = path.resolve()
    existing = session.scalar(select(Model).where(Model.path == str(path)))
    if existing is not None:
        return existing
    model = Model(
        name=_unique_name(session, name),
        path=str(path),
        format="gguf",
        source=source,
        size_bytes=path.stat().st_size,
        info=summarise_gguf(path),
        is_default=False,
    )
    session.add(model)
    session.flush()
    if make_default or session.scalar(select(Model).where(Model.is_default)) is None:
        set_default(session, model.id)
    return model


def _unique_name(session: Session, name: str) -> str:
    candidate, n = name, 2
    while session.scalar(select(Model.id).where(Model.name == candidate)) is not None:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


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
        return ModelRef.of(register_gguf(session, path, name=STARTER_NAME, source="starter"))
    except GGUFError as exc:
        log.error("starter model unusable: %s", exc)
        return None
