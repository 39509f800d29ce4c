"""Engine-wide events (state, loads, the request log) fanned out to every subscriber, e.g. each window.

Publishing is thread-safe (the owner thread publishes); each subscriber reads its own bounded asyncio queue, and
a subscriber that falls far behind loses its oldest events rather than holding the engine's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

SUBSCRIBER_BACKLOG = 1000


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self.last: dict[str, dict] = {}  # the latest event of each kind, replayed to a new subscriber

    def publish(self, event: dict) -> None:
        self.last[event["event"]] = event
        for loop, q in list(self._subscribers):
            try:
                loop.call_soon_threadsafe(self._put, q, event)
            except RuntimeError:  # that subscriber's loop is gone
                self._subscribers.discard((loop, q))

    @staticmethod
    def _put(q: asyncio.Queue, event: dict) -> None:
        if q.full():
            q.get_nowait()
        q.put_nowait(event)

    async def subscribe(self, replay: tuple[str, ...] = ()) -> AsyncIterator[dict]:
        """Events from now on (after a replay of the latest event of each kind in `replay`)."""
        entry = (asyncio.get_running_loop(), asyncio.Queue(SUBSCRIBER_BACKLOG))
        self._subscribers.add(entry)
        try:
            for kind in replay:
                if kind in self.last:
                    yield self.last[kind]
            while True:
                yield await entry[1].get()
        finally:
            self._subscribers.discard(entry)
