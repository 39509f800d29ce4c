"""The adapter registry: find, list, remove, use in a conversation, and the blind A/B record."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.engine.backend import AdapterRef
from app.core.storage import conversations as convs
from app.core.storage.models import Adapter, Message


def ref_of(row: Adapter) -> AdapterRef:
    return AdapterRef(row.id, row.name, row.peft_dir, row.gguf_path, row.base_model_id)


def find_adapter(session: Session, name_or_id: str) -> Adapter | None:
    text = str(name_or_id).strip()
    if text.isdigit():
        row = session.get(Adapter, int(text))
        if row is not None:
            return row
    row = session.scalar(select(Adapter).where(Adapter.name == text))
    if row is None:  # a unique prefix is enough on the command line
        rows = list(session.scalars(select(Adapter).where(Adapter.name.like(f"{text}%"))))
        row = rows[0] if len(rows) == 1 else None
    return row


def list_adapters(session: Session) -> list[Adapter]:
    return list(session.scalars(select(Adapter).order_by(Adapter.id.desc())))


def use_in_conversation(session: Session, conversation_id: int, adapter_id: int | None) -> None:
    """Make the conversation's next replies come from this adapter (on its base model), or from the base again."""
    conversation = convs.require_conversation(session, conversation_id)
    params = dict(conversation.params or {})
    model_id = conversation.model_id
    if adapter_id is None:
        params.pop("adapter_id", None)
    else:
        row = session.get(Adapter, adapter_id)
        if row is None:
            raise LookupError(f"Adapter {adapter_id} no longer exists.")
        params["adapter_id"] = row.id
        model_id = row.base_model_id or model_id
    convs.update_conversation_settings(session, conversation_id, model_id=model_id, params=params)


def update_adapter(session: Session, adapter_id: int, *, name: str | None = None, notes: str | None = None) -> None:
    """Rename an adapter or change its notes. Names stay unique, since the command line finds adapters by name."""
    row = session.get(Adapter, adapter_id)
    if row is None:
        raise LookupError(f"Adapter {adapter_id} no longer exists.")
    if name is not None:
        name = name.strip()
        if not name:
            raise ValueError("An adapter needs a name.")
        taken = session.scalar(select(Adapter.id).where(Adapter.name == name, Adapter.id != adapter_id))
        if taken is not None:
            raise ValueError(f"Another adapter is already called {name!r}.")
        row.name = name
    if notes is not None:
        row.notes = notes.strip()


def record_ab(session: Session, adapter_id: int, adapter_won: bool) -> None:
    row = session.get(Adapter, adapter_id)
    if row is None:
        raise LookupError(f"Adapter {adapter_id} no longer exists.")
    if adapter_won:
        row.wins += 1
    else:
        row.losses += 1


def remove_adapter(session: Session, adapter_id: int) -> None:
    """Forget an adapter (its files stay in the run folder); replies it wrote keep its name."""
    for message in session.scalars(select(Message).where(Message.adapter_id == adapter_id)):
        message.adapter_id = None
    row = session.get(Adapter, adapter_id)
    if row is not None:
        session.delete(row)
