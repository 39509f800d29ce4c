"""Recently deleted: conversations a person deleted, kept RECENTLY_DELETED_DAYS so a missed Undo loses nothing.

storage.conversations.delete_conversation puts a conversation here. From here it is restored, deleted for good on
request, or purged at start-up once it has waited long enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.storage.conversations import require_conversation
from app.core.storage.models import Conversation, Message, MessageStatus, utcnow
from app.core.storage.recovery import process_alive

RECENTLY_DELETED_DAYS = 30


@dataclass(frozen=True)
class DeletedConversation:
    id: int
    title: str
    deleted_at: datetime
    days_left: int  # whole days before it is purged for good (0: at the next start)


class ConversationBusyError(Exception):
    """A reply in the conversation is still being written, so its rows cannot go yet."""


def restore(session: Session, conversation_id: int) -> None:
    """Back into the list, search and training data, where its `updated_at` puts it."""
    require_conversation(session, conversation_id).deleted_at = None


def delete_for_good(session: Session, conversation_id: int) -> None:
    """Remove a conversation in Recently deleted now. Messages and feedback go with it (ON DELETE CASCADE), search
    rows through the delete trigger. Refused while one of its replies is being written by a live process: its writer
    would find its row gone."""
    if require_conversation(session, conversation_id).deleted_at is None:
        raise LookupError(f"Conversation {conversation_id} is not in Recently deleted; delete it first.")
    if _reply_being_written(session, conversation_id):
        raise ConversationBusyError(
            "A reply in this conversation is still being written. Stop it or wait for it to finish, then try again."
        )
    session.execute(delete(Conversation).where(Conversation.id == conversation_id))


def _reply_being_written(session: Session, conversation_id: int) -> bool:
    streaming = session.execute(
        select(Message.owner_pid, Message.owner_started).where(
            Message.conversation_id == conversation_id, Message.status == MessageStatus.STREAMING
        )
    )
    return any(process_alive(pid, started) for pid, started in streaming)


def _days_left(deleted_at: datetime, now: datetime) -> int:
    return max(0, RECENTLY_DELETED_DAYS - (now - deleted_at).days)


def list_deleted(session: Session) -> list[DeletedConversation]:
    """Recently deleted, the most recently deleted first."""
    now = utcnow()
    rows = session.execute(
        select(Conversation.id, Conversation.title, Conversation.deleted_at)
        .where(Conversation.deleted_at.is_not(None))
        .order_by(Conversation.deleted_at.desc(), Conversation.id.desc())
    )
    return [DeletedConversation(r.id, r.title, r.deleted_at, _days_left(r.deleted_at, now)) for r in rows]


def deleted_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Conversation).where(Conversation.deleted_at.is_not(None)))


def purge_deleted(session: Session, now: datetime | None = None) -> int:
    """Delete for good what has waited in Recently deleted for RECENTLY_DELETED_DAYS or more. Returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=RECENTLY_DELETED_DAYS)
    expired = session.scalars(select(Conversation.id).where(Conversation.deleted_at <= cutoff)).all()
    purged = 0
    for conversation_id in expired:
        try:
            delete_for_good(session, conversation_id)
        except ConversationBusyError:
            continue  # the next start purges it
        purged += 1
    return purged
