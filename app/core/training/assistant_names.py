"""Which assistant a new job trains, and which version it will be: the New job form's defaults.

A new job on a base model continues the assistant last trained on that base, so pressing Start with the defaults
makes that assistant's next version. Assistants and their numbering are versions.py's.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.training.versions import get_assistant, list_assistants

DEFAULT_ASSISTANT = "My assistant"


def default_assistant(session: Session, base_model_id: int | None) -> str:
    """The assistant of the newest version trained on this base, else DEFAULT_ASSISTANT."""
    on_base = [v for a in list_assistants(session) for v in a.versions if v.base_model_id == base_model_id]
    if base_model_id is None or not on_base:
        return DEFAULT_ASSISTANT
    return max(on_base, key=lambda v: (v.created_at, v.id)).assistant


def next_version(session: Session, assistant: str) -> int:
    found = get_assistant(session, assistant.strip())
    return found.next_number if found is not None else 1


def version_name(assistant: str, version: int) -> str:
    return f"{assistant.strip()} v{version}"
