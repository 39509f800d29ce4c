"""What the model is shown of a conversation: its system prompt, then the branch down to one message, without the
replies the user never got. Chat replies and training examples are both built from here, so the context a
training example teaches is the context the model saw.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.core.engine.backend import ChatMessage
from app.core.storage.conversations import lineage, require_conversation
from app.core.storage.models import Message, MessageStatus


def shown_to_model(m: Message) -> bool:
    """A failed reply may hold half a sentence and an empty one holds nothing: neither is part of the dialogue.
    The system prompt lives on the conversation, so only user and assistant messages are turns."""
    if m.role == "user":
        return True
    return m.role == "assistant" and m.status != MessageStatus.ERROR and bool(m.content.strip())


def prompt_messages(session: Session, conversation_id: int, last_id: int | None) -> list[ChatMessage]:
    """The system prompt (when set), then the shown messages from the first one down to `last_id` (None: none)."""
    conversation = require_conversation(session, conversation_id)
    system = conversation.system_prompt or ""
    messages = [ChatMessage("system", system)] if system.strip() else []
    if last_id is not None:
        messages += [ChatMessage(m.role, m.content, m.id) for m in lineage(session, last_id) if shown_to_model(m)]
    return messages
