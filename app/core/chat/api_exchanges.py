"""API exchanges kept as conversations ("Keep API conversations"), and feedback on them by completion id.

An exchange is stored like a chat (system prompt, the request's messages as a chain, the reply), marked with
`params["source"] = "api"`: it stays out of the chat list and search, and its rated replies are a training source
of their own ("API exchanges"), next to rated chats. The mark lives in the conversation's params (its settings
bag, which the chat never shows for these) so no schema change is needed. The reply's completion id is kept in
its message's params and names its message id, so feedback finds it with one lookup.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from app.core.chat.feedback import correct_reply, rate_reply
from app.core.engine.backend import AdapterRef, ChatMessage
from app.core.engine.params import GenerationParams
from app.core.library.registry import ModelRef
from app.core.storage import conversations as convs
from app.core.storage.db import Database
from app.core.storage.conversations import API_SOURCE
from app.core.storage.models import Message, MessageStatus
from app.core.storage.recovery import this_process

_PREFIX = "chatcmpl-"


def new_completion_id(message_id: int | None = None) -> str:
    """An OpenAI-style id; one that names a kept message carries its id (`chatcmpl-h<id>-<random>`)."""
    tail = secrets.token_hex(8)
    return f"{_PREFIX}h{message_id}-{tail}" if message_id is not None else f"{_PREFIX}{tail}"


def start_exchange(db: Database, model: ModelRef, adapter: AdapterRef | None, messages: list[ChatMessage],
                   params: GenerationParams) -> tuple[int, str]:
    """Store the request's messages and an empty streaming reply; returns (reply message id, completion id)."""
    pid, started = this_process()
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    with db.session() as session:
        conversation = convs.create_conversation(session, system_prompt=system, model_id=model.id,
                                                 params={"source": API_SOURCE})
        parent = None
        for m in messages:
            if m.role != "system":
                parent = convs.add_message(session, conversation.id, role=m.role, content=m.content,
                                           parent_id=parent).id
        reply = convs.add_message(
            session, conversation.id, role="assistant", parent_id=parent, status=MessageStatus.STREAMING,
            model_id=model.id, model_name=model.name, params=params.to_dict(), owner_pid=pid,
            owner_started=started,
            adapter_id=adapter.id if adapter else None, adapter_name=adapter.name if adapter else None,
        )
        completion_id = new_completion_id(reply.id)
        reply.params = {**reply.params, "api_completion_id": completion_id}
        return reply.id, completion_id


def message_for_completion(session: Session, completion_id: str) -> Message | None:
    """The kept reply a completion id names, or None (unknown, not kept, or a guessed id)."""
    head, _, _tail = completion_id.removeprefix(_PREFIX).partition("-")
    if not completion_id.startswith(_PREFIX) or not head.startswith("h") or not head[1:].isdigit():
        return None
    message = session.get(Message, int(head[1:]))
    if message is None or (message.params or {}).get("api_completion_id") != completion_id:
        return None
    return message


def rate_completion(db: Database, completion_id: str, rating: int, correction: str | None = None) -> int:
    """Rate a kept reply (+1 / -1), with the reply that was wanted if given; returns its message id.
    Raises LookupError when the id names no kept reply."""
    with db.session() as session:
        message = message_for_completion(session, completion_id)
        if message is None:
            raise LookupError(
                f"No kept reply has the id {completion_id!r}. Only replies made while \"Keep API conversations\" "
                "is on can be rated."
            )
        rate_reply(session, message.id, rating)
        if correction is not None and correction.strip():
            correct_reply(session, message.id, correction)
        return message.id
