"""Models that killed the engine while loading: marked with the time, so the start-up load skips them.

The window writes the mark (the engine cannot: it is gone) and clears it once the model loads fine again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.core.storage.models import Model, utcnow


def mark_load_crash(session: Session, model_id: int, when: datetime | None = None) -> None:
    model = session.get(Model, model_id)
    if model is not None:
        model.load_crashed_at = when or utcnow()


def clear_load_crash(session: Session, model_id: int) -> bool:
    """Returns True when there was a mark to clear."""
    model = session.get(Model, model_id)
    if model is None or model.load_crashed_at is None:
        return False
    model.load_crashed_at = None
    return True


def load_crash_note(load_crashed_at: str | None) -> str:
    """What the library says about such a model ("" for one that never crashed the engine)."""
    if not load_crashed_at:
        return ""
    day = datetime.fromisoformat(load_crashed_at).strftime("%Y-%m-%d")
    return f"crashed the engine while loading, {day}"
