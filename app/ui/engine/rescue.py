"""What the window writes when the engine could not: a reply cut by the engine's death, kept and marked
interrupted; a reply that never reached the engine, marked failed; and the library's mark on a model that took the
engine down while loading. None of it may take the window down, so a failure here is logged, not raised.
"""

from __future__ import annotations

import logging

from app.core.library.load_crash import clear_load_crash, mark_load_crash
from app.core.storage.db import Database
from app.core.storage.models import Message, MessageStatus

log = logging.getLogger(__name__)


def keep_interrupted(db: Database, message_id: int, received: str) -> None:
    """The engine saved the reply at least once a second; the window has every batch it was sent, so the longer of
    the two is kept, marked interrupted."""
    try:
        with db.session() as session:
            msg = session.get(Message, message_id)
            if msg is None:
                return
            if len(received) > len(msg.content or ""):
                msg.content = received
            msg.status, msg.finish_reason, msg.owner_pid = MessageStatus.INTERRUPTED, "interrupted", None
    except Exception:  # noqa: BLE001
        log.exception("could not keep reply %s as interrupted", message_id)


def mark_failed(db: Database, message_id: int, message: str) -> None:
    try:
        with db.session() as session:
            msg = session.get(Message, message_id)
            if msg is not None and msg.status == MessageStatus.STREAMING:
                msg.status, msg.error, msg.owner_pid = MessageStatus.ERROR, message, None
    except Exception:  # noqa: BLE001
        log.exception("could not mark reply %s as failed", message_id)


def mark_crashed(db: Database, model_id: int) -> None:
    try:
        with db.session() as session:
            mark_load_crash(session, model_id)
    except Exception:  # noqa: BLE001
        log.exception("could not mark model %s as crashing the engine", model_id)


def clear_crash_mark(db: Database, model_id: int) -> None:
    try:
        with db.session() as session:
            clear_load_crash(session, model_id)
    except Exception:  # noqa: BLE001
        log.exception("could not clear the crash mark of model %s", model_id)
