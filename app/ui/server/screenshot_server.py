"""The Server tab's screenshots: as it opens (off, nothing logged), and on with a request log.

The log is replayed from `app/resources/server-requests-sample.json`, request events recorded from a real engine while
the openai client called it, moved in time so that the last one happened a few seconds ago. They go through the
engine controller's `request_logged` signal when it has one (the path a live event takes), else to the page.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from app import paths
from app.core.local_server import RequestRecord

SAMPLE = "server-requests-sample.json"
TABS = ("server", "server-idle")
SAMPLE_KEY = "hearth-sample-key-for-the-screenshot-only"  # masked on screen: the picture shows dots


def recorded_events() -> list[dict]:
    return json.loads((paths.resources_dir() / SAMPLE).read_text(encoding="utf-8"))["events"]


def _moved_to_now(events: list[dict], seconds_ago: float = 4.0) -> list[dict]:
    times = [RequestRecord.from_event(e).time for e in events]
    last = max(t for t in times if t is not None)
    now = dt.datetime.now(dt.timezone.utc).timestamp()
    return [{**e, "time": None if t is None else t - last + now - seconds_ago} for e, t in zip(events, times, strict=True)]


def _wait(condition, timeout_s: float) -> None:
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)


def show(window, tab: str) -> None:
    """Idle: as the tab opens. Otherwise the server is turned on and applied as a person would (the engine really
    restarts on the port and the tab checks it answers), then the recorded requests are replayed into the log."""
    window.show_server()
    if tab == "server-idle":
        return
    worker, page = window.engine.worker, window.server_page
    window.core.settings.set("server_enabled", True)
    window.core.settings.set("server_api_key", SAMPLE_KEY)
    if page.restart_button.isVisible():
        supervisor = window.engine.supervisor
        _wait(lambda: supervisor.current() is not None, 60)  # a restart asked while it starts would be dropped
        page.restart_engine()
        _wait(lambda: page.listening is not None, 60)
    for event in _moved_to_now(recorded_events()):
        if hasattr(worker, "request_logged"):
            worker.request_logged.emit(event)
        else:
            page.log_request(event)
