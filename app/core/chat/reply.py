"""Running one reply: history → context budget → backend stream, with the text saved as it grows."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from app.core.chat.history import prompt_messages
from app.core.chat.turns import PendingReply
from app.core.engine.backend import Backend, ChatMessage, StopCheck
from app.core.engine.context_budget import PromptTooLong, fit
from app.core.engine.events import ContextTrimmed, Failed, Finished, StreamEvent, TextDelta
from app.core.storage.db import Database
from app.core.storage.models import Message, MessageStatus, utcnow
from app.log_setup import SHOWN

log = logging.getLogger(__name__)

# A crash loses at most this much of a streaming reply.
SAVE_INTERVAL_S = 0.5


def history(db: Database, pending: PendingReply) -> list[ChatMessage]:
    """The messages the model sees: the system prompt, then the branch up to the message being answered."""
    with db.session() as session:
        return prompt_messages(session, pending.conversation_id, pending.parent_id)


class ReplyWriter:
    """Writes the growing reply to its row at most every SAVE_INTERVAL_S, and its final state once."""

    def __init__(self, db: Database, message_id: int):
        self.db, self.message_id = db, message_id
        self.parts: list[str] = []
        self.saved_len = 0
        self.saved_at = time.monotonic()

    def add(self, text: str) -> None:
        self.parts.append(text)
        if time.monotonic() - self.saved_at >= SAVE_INTERVAL_S:
            self.save()

    def save(self, **fields) -> None:
        content = "".join(self.parts)
        if len(content) != self.saved_len or fields:
            with self.db.session() as session:
                msg = session.get(Message, self.message_id)
                if msg is None:  # its conversation was deleted for good meanwhile: nothing left to keep
                    return
                msg.content = content
                msg.updated_at = utcnow()
                for key, value in fields.items():
                    setattr(msg, key, value)
            self.saved_len = len(content)
        self.saved_at = time.monotonic()


def run_reply(db: Database, backend: Backend, pending: PendingReply, should_stop: StopCheck) -> Iterator[StreamEvent]:
    """Stream a reply for `pending`, persisting it; yields the backend's events (plus ContextTrimmed)."""
    writer = ReplyWriter(db, pending.assistant_id)
    writer.save(backend=backend.info.backend)  # so the thread can show where each reply came from
    finished = False
    try:
        try:
            budget = fit(history(db, pending), backend.count_tokens, backend.info.n_ctx, pending.params.max_tokens)
        except (PromptTooLong, ValueError) as exc:
            log.warning("reply %d not started: %s", pending.assistant_id, exc, extra={SHOWN: True})
            writer.save(status=MessageStatus.ERROR, error=str(exc), finish_reason="error", owner_pid=None)
            finished = True
            yield Failed(str(exc))
            return
        extra = {}
        if budget.dropped:
            dropped = tuple(m.id for m in budget.dropped)
            extra["context_dropped"] = list(dropped)
            yield ContextTrimmed(dropped, budget.prompt_tokens, backend.info.n_ctx)
        for event in backend.stream(budget.messages, pending.params, should_stop):
            if isinstance(event, TextDelta):
                writer.add(event.text)
            elif isinstance(event, Finished):
                writer.save(
                    status=MessageStatus.COMPLETE,
                    finish_reason=event.finish_reason,
                    prompt_tokens=event.prompt_tokens,
                    completion_tokens=event.completion_tokens,
                    ttft_ms=round(event.ttft_s * 1000, 1),
                    tokens_per_s=round(event.tokens_per_s, 2),
                    params={**pending.params.to_dict(), **extra},
                    owner_pid=None,
                )
                finished = True
            elif isinstance(event, Failed):
                log.warning("reply %d failed: %s", pending.assistant_id, event.message, extra={SHOWN: True})
                writer.save(status=MessageStatus.ERROR, error=event.message, finish_reason="error", owner_pid=None)
                finished = True
            yield event
    except Exception as exc:
        if not finished:
            message = f"The reply failed: {exc}"
            log.exception("reply %d failed", pending.assistant_id, extra={SHOWN: True})  # the trace, for a report
            writer.save(status=MessageStatus.ERROR, error=message, finish_reason="error", owner_pid=None)
            finished = True
            yield Failed(message)
    finally:
        if not finished:  # the consumer walked away (closed generator): keep the text, say it was cut
            writer.save(status=MessageStatus.INTERRUPTED, finish_reason="interrupted", owner_pid=None)
