"""HTTP to the engine: one POST whose answer is a stream of Server-Sent Events, read in the calling (background)
thread and handed to a callback event by event, and the plain JSON calls.

httpx and httpx-sse are imported on first use, not when the window starts (they cost start-up time).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from app.ui.engine.supervisor import Endpoint


# Plain HTTP on loopback: no proxy from the environment (HTTP_PROXY must not route the window's own engine), and no
# TLS context (building one loads the CA bundle, tens of milliseconds on every request).
LOOPBACK_CLIENT = {"trust_env": False, "verify": False}


class EngineRequestError(Exception):
    """The engine answered, but with an error (its message is for a person)."""


class StreamBroken(Exception):
    """The connection ended before the final event: the engine may have died."""


class PostOrder:
    """Requests reach the engine in the order the window made them (from there its queue is FIFO): a request's
    thread posts only when every earlier request has been accepted (the engine has queued its job) or has failed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next = 1
        self._finished: set[int] = set()

    def wait_turn(self, ticket: int, timeout: float = 60.0) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._next >= ticket, timeout)

    def done(self, ticket: int) -> None:
        with self._cond:
            if ticket < self._next:
                return
            self._finished.add(ticket)
            while self._next in self._finished:
                self._finished.discard(self._next)
                self._next += 1
            self._cond.notify_all()


class Stream:
    """A request's stream, which another thread may close (a window that shuts down, a stop)."""

    def __init__(self) -> None:
        self._client = None
        self._lock = threading.Lock()
        self.closed = False

    def close(self) -> None:
        with self._lock:
            self.closed = True
            client = self._client
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing from another thread may race the reader; either way it ends
                pass

    def run(self, endpoint: Endpoint, method: str, path: str, body: dict | None,
            on_event: Callable[[dict], None], final: frozenset[str] | None = None,
            on_accepted: Callable[[], None] | None = None) -> None:
        """Read the stream to its end, calling `on_event` for each event. Returns after a final event (or the end
        of an endless stream when closed); raises StreamBroken or EngineRequestError."""
        import httpx
        from httpx_sse import connect_sse

        timeout = httpx.Timeout(10.0, read=None)
        with httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers(), timeout=timeout,
                          **LOOPBACK_CLIENT) as client:
            with self._lock:
                if self.closed:
                    return
                self._client = client
            try:
                kwargs = {"json": body} if body is not None else {}
                with connect_sse(client, method, path, **kwargs) as source:
                    response = source.response
                    if response.status_code != 200:
                        response.read()
                        raise EngineRequestError(error_text(response))
                    if on_accepted is not None:  # the route queues its job before it answers
                        on_accepted()
                    for sse in source.iter_sse():
                        if not sse.data:
                            continue
                        event = json.loads(sse.data)
                        on_event(event)
                        if final is not None and event.get("event") in final:
                            return
            except httpx.HTTPError as exc:
                if self.closed:
                    return
                raise StreamBroken(str(exc) or type(exc).__name__) from exc
            finally:
                with self._lock:
                    self._client = None
        if final is not None and not self.closed:
            raise StreamBroken("the stream ended before its final event")


def error_text(response) -> str:
    """The person-readable message of an error answer (FastAPI's `detail`, OpenAI's `error.message`)."""
    try:
        data = response.json()
    except ValueError:
        return f"The engine answered {response.status_code}."
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("message") or (data.get("error") or {}).get("message")
        if isinstance(detail, str):
            return detail
    return f"The engine answered {response.status_code}: {data}"


def call(endpoint: Endpoint, method: str, path: str, body: dict | None = None, timeout: float = 10.0) -> dict:
    """A plain JSON call (status, stop)."""
    import httpx

    r = httpx.request(method, endpoint.base_url + path, json=body, headers=endpoint.headers(), timeout=timeout,
                      **LOOPBACK_CLIENT)
    if r.status_code != 200:
        raise EngineRequestError(error_text(r))
    return r.json()
