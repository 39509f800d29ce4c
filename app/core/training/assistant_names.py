"""Which assistant a new job trains, and which version it will be: the New job form's defaults.

An assistant is a name its adapters share ("My assistant" v1, v2 …); an adapter from before versions is an
assistant of its own, named as the adapter is (as in versions.py). A new job on a base model continues the
assistant last trained on that base, so pressing Start with the defaults makes the next version of it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.storage.models import Adapter

DEFAULT_ASSISTANT = "My assistant"
_ASSISTANT = func.coalesce(Adapter.assistant, Adapter.name)


def default_assistant(session: Session, base_model_id: int | None) -> str:
    """The assistant of the newest adapter on this base, else DEFAULT_ASSISTANT."""
    if base_model_id is None:
        return DEFAULT_ASSISTANT
    name = session.scalar(select(_ASSISTANT).where(Adapter.base_model_id == base_model_id)
                          .order_by(Adapter.created_at.desc(), Adapter.id.desc()).limit(1))
    return name or DEFAULT_ASSISTANT


def next_version(session: Session, assistant: str) -> int:
    """1 for a new assistant, else one past its latest version (adapters from before versions are numbered by
    their place, as versions.py lists them)."""
    numbers = list(session.scalars(select(Adapter.version).where(_ASSISTANT == assistant.strip())))
    numbered = [n for n in numbers if n]
    return (max(numbered) if numbered else len(numbers)) + 1


def version_name(assistant: str, version: int) -> str:
    return f"{assistant.strip()} v{version}"
