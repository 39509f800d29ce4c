"""Exporting conversations as JSON (every branch, with feedback) or Markdown (the visible branch)."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from app.core.storage import conversations as convs
from app.core.storage.db import Database
from app.core.storage.models import Conversation


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _selected(session, conversation_id: int | None) -> list[Conversation]:
    """The conversations to export: what the list shows (Recently deleted stays out), oldest first."""
    if conversation_id is not None:
        return [convs.require_listed_conversation(session, conversation_id)]
    return list(
        session.scalars(
            select(Conversation).where(convs.NOT_DELETED).order_by(Conversation.created_at, Conversation.id)
        )
    )


def export_dict(db: Database, conversation_id: int | None = None) -> dict:
    out = []
    with db.session() as session:
        for conv in _selected(session, conversation_id):
            messages = []
            for m in conv.messages:
                fb = m.feedback
                messages.append(
                    {
                        "id": m.id,
                        "parent_id": m.parent_id,
                        "role": m.role,
                        "content": m.content,
                        "status": m.status,
                        "model": m.model_name,
                        "created_at": _iso(m.created_at),
                        "stats": {
                            "prompt_tokens": m.prompt_tokens,
                            "completion_tokens": m.completion_tokens,
                            "ttft_ms": m.ttft_ms,
                            "tokens_per_s": m.tokens_per_s,
                            "finish_reason": m.finish_reason,
                        }
                        if m.role == "assistant"
                        else None,
                        "feedback": {"rating": fb.rating, "correction": fb.correction, "note": fb.note}
                        if fb
                        else None,
                    }
                )
            out.append(
                {
                    "id": conv.id,
                    "title": conv.title,
                    "created_at": _iso(conv.created_at),
                    "system_prompt": conv.system_prompt,
                    "messages": messages,
                }
            )
    return {"conversations": out}


def export_json(db: Database, conversation_id: int | None = None) -> str:
    return json.dumps(export_dict(db, conversation_id), indent=2, ensure_ascii=False)


def export_markdown(db: Database, conversation_id: int | None = None) -> str:
    parts = []
    with db.session() as session:
        for conv in _selected(session, conversation_id):
            parts.append(f"# {conv.title}\n\n_{_iso(conv.created_at)}_\n")
            if conv.system_prompt:
                parts.append(f"> **System:** {conv.system_prompt}\n")
            for m in convs.thread(session, conv.id):
                who = "You" if m.role == "user" else f"Assistant ({m.model_name or 'unknown model'})"
                note = "" if m.status == "complete" else f" _[{m.status}]_"
                parts.append(f"**{who}**{note}\n\n{m.content}\n")
                if m.correction:
                    parts.append(f"> **Corrected reply:** {m.correction}\n")
    return "\n".join(parts)
