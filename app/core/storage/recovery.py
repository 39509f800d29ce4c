"""Replies left `streaming` by a process that has died become `interrupted`; live streams are left alone."""

from __future__ import annotations

import os
from functools import cache

import psutil
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.storage.models import Message, MessageStatus, utcnow


@cache
def this_process() -> tuple[int, float]:
    """(pid, start time): the pair identifies a process even after its PID is reused."""
    pid = os.getpid()
    return pid, psutil.Process(pid).create_time()


def process_alive(pid: int | None, started: float | None) -> bool:
    if not pid:
        return False
    try:
        proc = psutil.Process(pid)
        if started is not None and abs(proc.create_time() - started) > 1.0:
            return False  # the PID now belongs to someone else
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def mark_orphaned_streams(session: Session) -> int:
    streaming = session.scalars(select(Message).where(Message.status == MessageStatus.STREAMING)).all()
    count = 0
    for message in streaming:
        if process_alive(message.owner_pid, message.owner_started):
            continue
        message.status = MessageStatus.INTERRUPTED
        message.finish_reason = message.finish_reason or "interrupted"
        message.updated_at = utcnow()
        count += 1
    return count
