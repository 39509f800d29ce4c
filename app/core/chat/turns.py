"""Starting a reply: the new user message (if any) and an empty `streaming` assistant message to fill in.

Send, regenerate and edit all end here, so the window and the command line create exactly the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.engine.backend import AdapterRef
from app.core.engine.params import GenerationParams
from app.core.library.registry import ModelRef, default_model, get_model
from app.core.storage import conversations as convs
from app.core.storage.db import Database
from app.core.storage.models import Adapter, Message, MessageStatus
from app.core.storage.recovery import this_process
from app.core.training.adapters import ref_of


class NoModelError(RuntimeError):
    pass


@dataclass(frozen=True)
class PendingReply:
    conversation_id: int
    assistant_id: int
    parent_id: int  # the user message being answered
    model: ModelRef
    params: GenerationParams
    backend: str = "auto"  # "auto" | "llama.cpp" | "transformers", the conversation's choice
    adapter: AdapterRef | None = None  # the conversation's LoRA adapter ("Use in chat"), applied on the model


def _model_for(session, conversation) -> ModelRef:
    model = get_model(session, conversation.model_id) if conversation.model_id else None
    model = model or default_model(session)
    if model is None:
        raise NoModelError(
            "No model is installed. Import a GGUF file in the Models tab, or reinstall the starter model."
        )
    return model


def _placeholder(session, conversation, parent_id: int) -> PendingReply:
    model = _model_for(session, conversation)
    params = GenerationParams.from_dict(conversation.params)
    pid, started = this_process()
    reply = convs.add_message(
        session,
        conversation.id,
        role="assistant",
        parent_id=parent_id,
        status=MessageStatus.STREAMING,
        model_id=model.id,
        model_name=model.name,
        params=params.to_dict(),
        owner_pid=pid,
        owner_started=started,
    )
    backend = str((conversation.params or {}).get("backend") or "auto")
    adapter = adapter_for(session, conversation, model)
    if adapter is not None:
        reply.adapter_id, reply.adapter_name = adapter.id, adapter.name
    return PendingReply(conversation.id, reply.id, parent_id, model, params, backend, adapter)


def adapter_for(session, conversation, model: ModelRef) -> AdapterRef | None:
    """The conversation's adapter, if it still exists and was trained on this conversation's model."""
    adapter_id = (conversation.params or {}).get("adapter_id")
    row = session.get(Adapter, adapter_id) if adapter_id else None
    if row is None or (row.base_model_id is not None and row.base_model_id != model.id):
        return None
    return ref_of(row)


def start_turn(db: Database, conversation_id: int, text: str) -> PendingReply:
    """Append the user's message at the end of the visible branch and open a reply to it."""
    if not text.strip():
        raise ValueError("The message is empty.")
    with db.session() as session:
        conversation = convs.require_conversation(session, conversation_id)
        path = convs.active_path_ids(session, conversation_id)
        user = convs.add_message(session, conversation_id, role="user", content=text, parent_id=path[-1] if path else None)
        return _placeholder(session, conversation, user.id)


def start_regenerate(db: Database, assistant_id: int) -> PendingReply:
    """A new reply to the same user message; the old one stays as a sibling."""
    with db.session() as session:
        old = session.get(Message, assistant_id)
        if old is None or old.role != "assistant" or old.parent_id is None:
            raise LookupError(f"Message {assistant_id} is not a reply that can be regenerated.")
        conversation = convs.require_conversation(session, old.conversation_id)
        return _placeholder(session, conversation, old.parent_id)


def start_edit(db: Database, user_id: int, new_text: str) -> PendingReply:
    """Resend an edited user message as a sibling of the original; the old branch is kept."""
    if not new_text.strip():
        raise ValueError("The message is empty.")
    with db.session() as session:
        old = session.get(Message, user_id)
        if old is None or old.role != "user":
            raise LookupError(f"Message {user_id} is not a message of yours that can be edited.")
        conversation = convs.require_conversation(session, old.conversation_id)
        user = convs.add_message(session, conversation.id, role="user", content=new_text, parent_id=old.parent_id)
        return _placeholder(session, conversation, user.id)
