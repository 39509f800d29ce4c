"""The request log: one `request` event per request that used the model, for the Server page and engine.log.

Both route families call `log_request` once a request has ended (for a stream: when it ended, with its token
counts), so the window's log shows what the window itself asked next to what other apps asked.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import Request

log = logging.getLogger(__name__)

REQUEST_FIELDS = ("client", "route", "model", "prompt_tokens", "completion_tokens", "tokens_per_s", "status")


def client_of(request: Request) -> str:
    """'host:port' of the caller, as the log shows it."""
    if request.client is None:
        return "?"
    return f"{request.client.host}:{request.client.port}"


def log_request(state: Any, **fields: Any) -> dict:
    """Publish a `request` event to every subscriber of /hearth/v1/events and write one log line.

    Fields (all optional, None when unknown): client, route, model, prompt_tokens, completion_tokens,
    tokens_per_s, status (the HTTP status, or what became of a stream: 200 also for a stopped one), plus any
    extra a route finds useful. `time` is added (UTC, ISO 8601)."""
    event = {"event": "request", "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}
    event.update({key: fields.pop(key, None) for key in REQUEST_FIELDS})
    event.update(fields)
    state.hub.publish(event)
    log.info("%s %s %s model=%s tokens=%s/%s tok/s=%s", event["client"], event["route"], event["status"],
             event["model"], event["prompt_tokens"], event["completion_tokens"], event["tokens_per_s"])
    return event
