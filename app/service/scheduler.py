"""The engine's one model owner: a thread that runs queued jobs in FIFO order, one at a time.

Every use of the model (a chat reply, a regenerate, an A/B, a benchmark, an API request, a load) is a job. A
job runs on the owner thread, the only thread that touches the `ModelHost` (llama.cpp's `Llama` is not
thread-safe). It reports by emitting small dict events, which reach the asyncio side through the event loop's
thread-safe call. A job's stop flag is read by the generation loop after every token, so a stop, or a client
that disconnects, takes effect within one token. The queue is bounded: a full queue is refused at once
(`QueueFull`), never left to grow.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from app.core.engine.generating_sign import GeneratingSign
from app.core.engine.host import ModelHost
from app.core.storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 16
_END = object()


class QueueFull(Exception):
    """More jobs are waiting than the engine accepts; the caller should retry later (HTTP 503)."""


@dataclass
class JobContext:
    """What a job gets on the owner thread."""

    host: ModelHost
    db: Database
    stop_event: threading.Event
    _emit: Callable[[dict], None]

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def emit(self, event: dict) -> None:
        self._emit(event)


@dataclass
class JobHandle:
    """The asyncio side of one job: its events as they come, and a stop that works queued or running."""

    id: int
    label: str
    _loop: asyncio.AbstractEventLoop | None
    _queue: asyncio.Queue | None
    stop_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    on_skip: Callable[[JobContext], None] | None = None

    def stop(self) -> None:
        """Thread-safe; a queued job is skipped, a running one ends within one token."""
        self.stop_event.set()

    def _deliver(self, item: Any) -> None:
        if self._loop is None or self._queue is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass

    async def events(self) -> AsyncIterator[dict]:
        """Every event the job emits, in order, until it ends. Leaving early does not stop the job: call
        `stop()` for that (a route does so when its client disconnects)."""
        assert self._queue is not None, "submitted without a running event loop"
        while True:
            item = await self._queue.get()
            if item is _END:
                return
            yield item

    async def wait(self) -> Any:
        """The job's return value once it has run (its events are dropped); re-raises what it raised."""
        async for _ in self.events():
            pass
        if self.error is not None:
            raise self.error
        return self.result


class Scheduler:
    def __init__(self, host: ModelHost, db: Database, max_queued: int = DEFAULT_MAX_QUEUED,
                 sign: GeneratingSign | None = None):
        self.host, self.db, self.max_queued = host, db, max_queued
        # Up while the owner works and until the queue is empty, so a training job gives way to the reply.
        self.sign = sign if sign is not None else GeneratingSign()
        self._jobs: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        self._waiting = 0
        self._lock = threading.Lock()
        self.running: JobHandle | None = None
        self._thread = threading.Thread(target=self._run, name="model-owner", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not yet started."""
        return self._waiting

    def submit(self, fn: Callable[[JobContext], Any], label: str = "", *, stop_event: threading.Event | None = None,
               on_skip: Callable[[JobContext], None] | None = None) -> JobHandle:
        """Queue `fn(ctx)` to run on the owner thread. Call from a coroutine to get its events (`handle.events()`);
        from a plain thread, wait on `handle.done`. Raises QueueFull when `max_queued` jobs are already waiting.
        `on_skip(ctx)` runs on the owner thread instead of `fn` when the job was stopped before it started (a reply
        marks its message so)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if self._waiting >= self.max_queued:
                raise QueueFull(f"{self._waiting} requests are already waiting for the model")
            self._waiting += 1
        handle = JobHandle(next(self._ids), label, loop, asyncio.Queue() if loop else None)
        if stop_event is not None:
            handle.stop_event = stop_event
        handle.on_skip = on_skip
        self._jobs.put((handle, fn))
        return handle

    def stop_all(self) -> None:
        """Stop what runs and skip what waits (used at shutdown)."""
        if self.running is not None:
            self.running.stop()
        with self._jobs.mutex:
            for item in list(self._jobs.queue):
                if item is not None:
                    item[0].stop()

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Stop every job, let the running one end (its reply is saved as stopped), then free the model."""
        self.stop_all()
        self._jobs.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the model owner did not stop within %.0f s", timeout_s)
            return False
        self.host.unload()
        return True

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                self.sign.down()
                return
            handle, fn = item
            with self._lock:
                self._waiting -= 1
            ctx = JobContext(self.host, self.db, handle.stop_event, handle._deliver)
            if handle.stop_event.is_set():
                handle.error = JobStopped("stopped before it started")
                if handle.on_skip is not None:
                    try:
                        handle.on_skip(ctx)
                    except Exception:  # noqa: BLE001 - as for a job: its caller's problem, never the owner's
                        log.exception("engine job %s (%s): its skip handler failed", handle.id, handle.label)
                self._rest_if_idle()  # the job before it may have left the sign up for it
                self._finish(handle)
                continue
            self.running = handle
            self.sign.up()
            try:
                handle.result = fn(ctx)
            except BaseException as exc:  # noqa: BLE001 - a job's failure is its caller's, never the owner's
                log.exception("engine job %s (%s) failed", handle.id, handle.label)
                handle.error = exc
            finally:
                self.running = None
                self._rest_if_idle()
                self._finish(handle)

    def _rest_if_idle(self) -> None:
        """The sign stays up between queued jobs, so the cores stay with the engine until it has nothing to do."""
        with self._lock:
            idle = self._waiting == 0
        if idle:
            self.sign.down()

    @staticmethod
    def _finish(handle: JobHandle) -> None:
        handle.done.set()
        handle._deliver(_END)


class JobStopped(Exception):
    """The job was stopped before the owner thread reached it."""
