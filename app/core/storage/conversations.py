"""Query functions for conversations and their message trees. Widgets and the CLI come through here, never raw SQL.

Deleting a conversation moves it to Recently deleted (`deleted_at` is set): it leaves the list, search, exports and
the training data at once; storage.recently_deleted restores it or removes it for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.core.storage.models import Conversation, Feedback, Message, MessageStatus, utcnow

TITLE_CHARS = 60
# The condition every query that shows or uses conversations adds: the list, search, exports, training data.
NOT_DELETED = Conversation.deleted_at.is_(None)
# API exchanges kept by the engine (chat.api_exchanges) are marked in their params and stay out of the chat list.
API_SOURCE = "api"
IS_API = func.json_extract(Conversation.params, "$.source") == API_SOURCE
IS_CHAT = func.coalesce(func.json_extract(Conversation.params, "$.source"), "chat") != API_SOURCE


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str
    updated_at: datetime
    snippet: str = ""  # the matching text when the list comes from a search


@dataclass(frozen=True)
class ThreadMessage:
    """A message on the visible branch, with what the view needs to show its siblings and feedback."""

    id: int
    parent_id: int | None
    role: str
    content: str
    status: str
    finish_reason: str | None
    error: str | None
    model_name: str | None
    backend: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_ms: float | None
    tokens_per_s: float | None
    params: dict[str, Any] = field(default_factory=dict)
    sibling_ids: tuple[int, ...] = ()
    rating: int = 0
    correction: str | None = None
    adapter_name: str | None = None  # the LoRA adapter the reply was written through, if any

    @property
    def sibling_index(self) -> int:
        return self.sibling_ids.index(self.id) if self.id in self.sibling_ids else 0


def create_conversation(
    session: Session,
    *,
    title: str = "New chat",
    system_prompt: str = "",
    model_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> Conversation:
    conv = Conversation(title=title, system_prompt=system_prompt, model_id=model_id, params=dict(params or {}))
    session.add(conv)
    session.flush()
    return conv


def get_conversation(session: Session, conversation_id: int) -> Conversation | None:
    return session.get(Conversation, conversation_id)


def require_conversation(session: Session, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise LookupError(f"There is no conversation with id {conversation_id}.")
    return conv


def rename_conversation(session: Session, conversation_id: int, title: str) -> None:
    conv = require_conversation(session, conversation_id)
    conv.title = title.strip()[:300] or "New chat"
    conv.updated_at = utcnow()


def update_conversation_settings(
    session: Session,
    conversation_id: int,
    *,
    system_prompt: str | None = None,
    model_id: int | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    conv = require_conversation(session, conversation_id)
    if system_prompt is not None:
        conv.system_prompt = system_prompt
    if model_id is not None:
        conv.model_id = model_id
    if params is not None:
        conv.params = dict(params)


def require_listed_conversation(session: Session, conversation_id: int) -> Conversation:
    """A conversation a person named by id (the CLI, an export): one in Recently deleted is not used silently."""
    conv = require_conversation(session, conversation_id)
    if conv.deleted_at is not None:
        raise LookupError(
            f"Conversation {conversation_id} is in Recently deleted; restore it from the Chat sidebar to use it."
        )
    return conv


def delete_conversation(session: Session, conversation_id: int) -> None:
    """Move it to Recently deleted. Its rows stay (a reply still streaming into it finishes normally) until it is
    restored, deleted for good, or purged (storage.recently_deleted)."""
    conv = require_conversation(session, conversation_id)
    if conv.deleted_at is None:
        conv.deleted_at = utcnow()


def list_conversations(session: Session) -> list[ConversationSummary]:
    rows = session.execute(
        select(Conversation.id, Conversation.title, Conversation.updated_at)
        .where(NOT_DELETED, IS_CHAT)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc())
    )
    return [ConversationSummary(id=r.id, title=r.title, updated_at=r.updated_at) for r in rows]


def fts_query(user_text: str) -> str | None:
    """Turn what a person typed into an FTS5 query: every word must appear, each as a prefix."""
    words = re.findall(r"\w+", user_text, flags=re.UNICODE)
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


def search_conversations(session: Session, user_text: str, limit: int = 200) -> list[ConversationSummary]:
    """Conversations whose messages (or title) match, newest first, with a snippet of the best match."""
    query = fts_query(user_text)
    if query is None:
        return list_conversations(session)
    rows = session.execute(
        text(
            "SELECT m.conversation_id AS cid, snippet(message_fts, 0, '[', ']', '…', 12) AS snip, "
            "bm25(message_fts) AS rank FROM message_fts JOIN message m ON m.id = message_fts.rowid "
            "WHERE message_fts MATCH :q ORDER BY rank LIMIT 2000"
        ),
        {"q": query},
    ).all()
    snippets: dict[int, str] = {}
    for row in rows:
        snippets.setdefault(row.cid, row.snip)
    needle = user_text.strip().lower()
    found = [
        ConversationSummary(id=c.id, title=c.title, updated_at=c.updated_at, snippet=snippets.get(c.id, ""))
        for c in session.scalars(
            select(Conversation).where(NOT_DELETED, IS_CHAT).order_by(Conversation.updated_at.desc())
        )
        if c.id in snippets or needle in c.title.lower()
    ]
    return found[:limit]


def add_message(
    session: Session,
    conversation_id: int,
    *,
    role: str,
    content: str = "",
    parent_id: int | None = None,
    status: str = MessageStatus.COMPLETE,
    **fields: Any,
) -> Message:
    """Append a message under `parent_id` and make it the visible branch's leaf."""
    conv = require_conversation(session, conversation_id)
    msg = Message(
        conversation_id=conversation_id, parent_id=parent_id, role=role, content=content, status=status, **fields
    )
    session.add(msg)
    session.flush()
    conv.active_leaf_id = msg.id
    conv.updated_at = utcnow()
    if role == "user" and conv.title == "New chat" and content.strip():
        conv.title = _title_from(content)
    return msg


def _title_from(content: str) -> str:
    line = " ".join(content.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def _children(session: Session, conversation_id: int) -> dict[int | None, list[int]]:
    rows = session.execute(
        select(Message.id, Message.parent_id).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    children: dict[int | None, list[int]] = {}
    for mid, parent in rows:
        children.setdefault(parent, []).append(mid)
    return children


def active_path_ids(session: Session, conversation_id: int) -> list[int]:
    """Message ids from the root to the active leaf (falls back to the newest branch)."""
    conv = require_conversation(session, conversation_id)
    children = _children(session, conversation_id)
    parents = {mid: parent for parent, kids in children.items() for mid in kids}
    leaf = conv.active_leaf_id if conv.active_leaf_id in parents else None
    if leaf is None:
        if not children.get(None):
            return []
        leaf = _newest_leaf_under(children, children[None][-1])
    path = []
    node: int | None = leaf
    while node is not None:
        path.append(node)
        node = parents[node]
    return path[::-1]


def _newest_leaf_under(children: dict[int | None, list[int]], node: int) -> int:
    while children.get(node):
        node = children[node][-1]
    return node


def thread(session: Session, conversation_id: int) -> list[ThreadMessage]:
    """The visible branch of a conversation, oldest first."""
    path = active_path_ids(session, conversation_id)
    if not path:
        return []
    children = _children(session, conversation_id)
    messages = {m.id: m for m in session.scalars(select(Message).where(Message.id.in_(path)))}
    feedback = {f.message_id: f for f in session.scalars(select(Feedback).where(Feedback.message_id.in_(path)))}
    out = []
    for mid in path:
        m = messages[mid]
        fb = feedback.get(mid)
        out.append(
            ThreadMessage(
                id=m.id,
                parent_id=m.parent_id,
                role=m.role,
                content=m.content,
                status=m.status,
                finish_reason=m.finish_reason,
                error=m.error,
                model_name=m.model_name,
                backend=m.backend,
                prompt_tokens=m.prompt_tokens,
                completion_tokens=m.completion_tokens,
                ttft_ms=m.ttft_ms,
                tokens_per_s=m.tokens_per_s,
                params=dict(m.params or {}),
                sibling_ids=tuple(children.get(m.parent_id, [m.id])),
                rating=fb.rating if fb else 0,
                correction=fb.correction if fb else None,
                adapter_name=m.adapter_name,
            )
        )
    return out


def select_branch(session: Session, message_id: int) -> None:
    """Show the branch through `message_id` (e.g. flipping to another regeneration): its newest leaf becomes active."""
    msg = session.get(Message, message_id)
    if msg is None:
        raise LookupError(f"There is no message with id {message_id}.")
    children = _children(session, msg.conversation_id)
    conv = require_conversation(session, msg.conversation_id)
    conv.active_leaf_id = _newest_leaf_under(children, message_id)


def set_feedback(
    session: Session, message_id: int, *, rating: int, correction: str | None = None, note: str | None = None
) -> Feedback:
    if rating not in (-1, 0, 1):
        raise ValueError("rating must be -1, 0 or +1")
    msg = session.get(Message, message_id)
    if msg is None or msg.role != "assistant":
        raise LookupError(f"Message {message_id} is not a reply that can be rated.")
    fb = session.scalar(select(Feedback).where(Feedback.message_id == message_id))
    if fb is None:
        fb = Feedback(message_id=message_id, rating=rating)
        session.add(fb)
    fb.rating = rating
    fb.correction = correction.strip() if correction and correction.strip() else None
    fb.note = note
    fb.updated_at = utcnow()
    session.flush()
    return fb


def message_count(session: Session, conversation_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id))


def lineage(session: Session, message_id: int) -> list[Message]:
    """The messages from the root down to `message_id`, whatever branch is visible."""
    chain: list[Message] = []
    node = session.get(Message, message_id)
    while node is not None:
        chain.append(node)
        node = session.get(Message, node.parent_id) if node.parent_id is not None else None
    return chain[::-1]
