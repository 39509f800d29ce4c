"""What a rating and a correction mean, decided here once; the chat view only asks (and shows the result)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.storage import conversations as convs
from app.core.storage.models import Feedback


def _current(session: Session, message_id: int) -> Feedback | None:
    return session.scalar(select(Feedback).where(Feedback.message_id == message_id))


def rate_reply(session: Session, message_id: int, rating: int) -> Feedback:
    """Thumbs up (+1), down (-1) or neither (0). A correction or note already written stays with the reply."""
    fb = _current(session, message_id)
    return convs.set_feedback(session, message_id, rating=rating, correction=fb.correction if fb else None,
                              note=fb.note if fb else None)


def correct_reply(session: Session, message_id: int, text: str) -> Feedback:
    """Keep the reply the user wanted. A correction says the original was not it, so the original is rated
    thumbs-down, whatever it was rated before. An empty correction takes a correction back and leaves the rating."""
    fb = _current(session, message_id)
    note = fb.note if fb else None
    if not text.strip():
        return convs.set_feedback(session, message_id, rating=fb.rating if fb else 0, correction=None, note=note)
    return convs.set_feedback(session, message_id, rating=-1, correction=text, note=note)
