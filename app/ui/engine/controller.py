"""The window's engine: the same calls and the same `worker` signals as when the model ran in a thread, carried
over HTTP to `hearth serve` (docs/engine-service.md).

Each request runs in its own background thread that reads the job's event stream; one more thread follows the
engine-wide events. A thread never touches a widget: it hands each event to the main thread with one queued
signal, and the main thread emits the worker signal the event stands for. When the engine dies, the reply in
progress is kept and marked interrupted here (the engine cannot), a model that was loading is marked in the
library, and `engine_crashed` tells the status bar; the next request starts a fresh engine.
"""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from app.core.chat.turns import PendingReply
from app.core.library.registry import ModelRef
from app.core.storage.db import Database
from app.ui.engine import protocol, rescue
from app.ui.engine.client import EngineRequestError, PostOrder, Stream, StreamBroken, call
from app.ui.engine.supervisor import EngineSupervisor, EngineUnavailable

log = logging.getLogger(__name__)

COALESCE_S = 0.030  # the engine batches tokens this often; one queued signal per batch reaches the window

SUBSCRIBE_WAIT_S = 5.0  # the longest a request waits for the window to hear the engine-wide events
REPLY_END = frozenset({"reply_finished", "reply_failed"})
LOAD_END = frozenset({"model_loaded", "model_failed"})
INTERRUPTED_NOTE = "The engine stopped while writing this reply; what it wrote so far is kept."


class EngineWorker(QObject):
    """The engine's signals, emitted on the main thread (the name stays from when a thread owned the model)."""

    state_changed = Signal(str)  # "idle" | "loading" | "generating"
    model_loaded = Signal(object)  # LoadedModelInfo
    model_failed = Signal(str)
    reply_started = Signal(int)
    token_batch_ready = Signal(int, str)
    generation_progress = Signal(int, int, float)  # message id, tokens so far, live decode rate (tokens/s)
    load_started = Signal(object, str)  # ModelRef, backend choice: the monitor checks free memory against it
    context_trimmed = Signal(int, object)  # message id, ContextTrimmed
    reply_finished = Signal(int, object)  # message id, Finished
    reply_failed = Signal(int, str)
    loaded_model_changed = Signal(object)  # the loaded model's id, or None
    model_released = Signal(int)  # the answer to release(): this model is not loaded, so its files may go
    memory_measured = Signal(int)  # a model's measured peak memory grew (the library shows it)
    benchmark_finished = Signal(int, object)  # model id, result dict
    benchmark_failed = Signal(int, str)
    comparison_finished = Signal(int, str, str)  # request id, the base model's reply, the adapter's reply
    comparison_failed = Signal(int, str)
    request_logged = Signal(object)  # one line of the engine's request log (dict), for the Server page


@dataclass
class _Request:
    """A request in flight, as the main thread knows it."""

    kind: str  # "load" | "reply" | "benchmark" | "compare" | "release" | "unload"
    model: ModelRef | None = None
    message_id: int | None = None
    request_id: int | None = None
    started: bool = False  # the model was loaded for it (a reply started, a load finished)
    published: bool = False  # its load went out on the engine-wide stream too (load_started seen)
    stream: Stream = field(default_factory=Stream)


class EngineController(QObject):
    """Main-thread façade over the engine process."""

    engine_crashed = Signal(str, str)  # one sentence for the status bar, the engine's last stderr lines
    _event = Signal(int, object)  # request key (0: engine-wide), event dict — from reader threads
    _ended = Signal(int, object)  # request key, None or the exception that ended it

    def __init__(self, db: Database, parent: QObject | None = None, *, keep_running: bool = False,
                 start: bool = True, listen=None):
        super().__init__(parent)
        self.db = db
        self.worker = EngineWorker(self)
        self.supervisor = EngineSupervisor(self, keep_running=keep_running, listen=listen)
        self.supervisor.crashed.connect(self._on_crashed)
        self.supervisor.on_ready.append(self._follow_events)
        self._event.connect(self._dispatch)
        self._ended.connect(self._on_ended)
        self.busy_ids: set[int] = set()
        self._stopped: set[int] = set()
        self._requests: dict[int, _Request] = {}
        self._keys = itertools.count(1)  # also each request's place in the order they reach the engine
        self._order = PostOrder()
        self._received: dict[int, list[str]] = {}  # text each streaming reply got so far (kept if the engine dies)
        self._loading: ModelRef | None = None
        self.loaded_model_id: int | None = None
        self.last_crash: tuple[str, str] | None = None
        self._events_stream: Stream | None = None
        self._following: dict[int, threading.Event] = {}  # by engine generation: its /events is subscribed
        self._stopping_reason: str | None = None
        self._closing = False
        if start:
            self.supervisor.start()

    # -- the calls the tabs make (same as the thread's) --------------------------------------------------------
    def load(self, model: ModelRef, backend: str = "auto") -> None:
        self._submit(_Request("load", model), "/hearth/v1/load", {"model_id": model.id, "backend": backend},
                     LOAD_END)

    def generate(self, pending: PendingReply) -> None:
        mid = pending.assistant_id
        self.busy_ids.add(mid)
        self._received[mid] = []
        self._submit(_Request("reply", pending.model, message_id=mid), "/hearth/v1/replies",
                     protocol.reply_body(pending), REPLY_END)

    def stop(self, message_id: int) -> None:
        self._stopped.add(message_id)
        if message_id in self.busy_ids:
            self._in_thread(self._post_stop, message_id)

    def stop_all(self) -> None:
        for mid in list(self.busy_ids):
            self.stop(mid)

    def unload(self) -> None:
        self._submit(_Request("unload"), "/hearth/v1/unload", {}, frozenset({"loaded_model_changed"}))

    def release(self, model_id: int) -> None:
        """Unload this model if the engine has it (after what is queued before); `model_released` answers."""
        self._submit(_Request("release", request_id=model_id), "/hearth/v1/release", {"model_id": model_id},
                     frozenset({"model_released"}))

    def benchmark(self, model: ModelRef) -> None:
        self._submit(_Request("benchmark", model), "/hearth/v1/benchmark", {"model_id": model.id},
                     frozenset({"benchmark_finished", "benchmark_failed"}))

    def compare(self, request_id: int, model: ModelRef, adapter, prompt: str, params) -> None:
        body = {"model_id": model.id, "adapter_id": adapter.id if adapter is not None else None, "prompt": prompt,
                "params": protocol.params_dict(params)}
        self._submit(_Request("compare", model, request_id=request_id), "/hearth/v1/compare", body,
                     frozenset({"comparison_finished", "comparison_failed"}))

    def start(self) -> None:
        """Join or start the engine now, in the background (a request would also start it)."""
        if not self._closing:
            self.supervisor.start()

    def restart(self) -> None:
        """Start the engine again (the Server settings changed); a reply in progress ends as interrupted."""
        self.supervisor.restart()

    def status(self, timeout: float = 10.0) -> dict:
        """The engine's own account (GET /hearth/v1/status): pid, loaded model, state, queue. Blocks: for tests,
        the CLI and the benchmark, not for the event loop."""
        return call(self.supervisor.endpoint(), "GET", "/hearth/v1/status", timeout=timeout)

    @property
    def pid(self) -> int | None:
        return self.supervisor.pid

    # -- threads ----------------------------------------------------------------------------------------------
    @staticmethod
    def _in_thread(target, *args) -> None:
        threading.Thread(target=target, args=args, name="engine-request", daemon=True).start()

    def _submit(self, request: _Request, path: str, body: dict, final: frozenset[str]) -> None:
        key = next(self._keys)
        self._requests[key] = request
        self._in_thread(self._run_request, key, request, path, body, final)

    def _run_request(self, key: int, request: _Request, path: str, body: dict, final: frozenset[str]) -> None:
        """In a reader thread: wait for the engine and for the requests made before this one to be queued there,
        post, pass every event to the main thread. The key is the request's place in the window's order."""
        try:
            endpoint = self.supervisor.endpoint()
            generation = self.supervisor.generation
            following = self._following.get(generation)
            if following is not None:
                following.wait(SUBSCRIBE_WAIT_S)
            self._order.wait_turn(key)
            if request.message_id is not None and request.message_id in self._stopped:
                self._ended.emit(key, EngineRequestError("Stopped before it started."))
                return
            try:
                request.stream.run(endpoint, "POST", path, body, lambda ev: self._event.emit(key, ev), final,
                                   on_accepted=lambda: self._order.done(key))
            except StreamBroken as exc:
                if self.supervisor.dead(generation):
                    self._ended.emit(key, EngineUnavailable("engine died"))
                else:
                    self._ended.emit(key, EngineRequestError(f"The connection to the engine broke ({exc})."))
                return
            self._ended.emit(key, None)
        except (EngineUnavailable, EngineRequestError) as exc:
            self._ended.emit(key, EngineRequestError(str(exc)))
        except Exception as exc:  # noqa: BLE001 - a request must never take the window down
            log.exception("engine request %s failed", path)
            self._ended.emit(key, EngineRequestError(f"The request to the engine failed ({exc})."))
        finally:
            self._order.done(key)  # (again, if accepted): the next request may go

    def _post_stop(self, message_id: int, timeout: float = 10.0) -> None:
        endpoint = self.supervisor.current()
        if endpoint is None:
            return
        try:
            call(endpoint, "POST", f"/hearth/v1/replies/{message_id}/stop", timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - a stop that cannot be delivered: the engine is gone or done
            log.info("stop of reply %s not delivered: %s", message_id, exc)

    def _follow_events(self, endpoint, generation: int) -> None:
        """Once per engine, in the thread that started it: a thread that follows GET /hearth/v1/events until that
        engine goes. Requests wait until it is subscribed (its first event, the replayed state, has come), so no
        engine-wide event of theirs (a load_started) is published before this window listens."""
        if self._closing:
            return
        if self._events_stream is not None:
            self._events_stream.close()
        stream = self._events_stream = Stream()
        self._stopping_reason = None
        subscribed = self._following.setdefault(generation, threading.Event())

        def on_event(event: dict) -> None:
            subscribed.set()
            self._event.emit(0, event)

        def follow() -> None:
            try:
                stream.run(endpoint, "GET", "/hearth/v1/events", None, on_event)
            except (StreamBroken, EngineRequestError) as exc:
                log.info("engine events stream ended: %s", exc)
            except Exception:  # noqa: BLE001
                log.exception("engine events stream failed")
            finally:
                subscribed.set()  # nobody waits for a stream that is gone

        threading.Thread(target=follow, name="engine-events", daemon=True).start()

    # -- main thread ------------------------------------------------------------------------------------------
    @Slot(int, object)
    def _dispatch(self, key: int, event: dict) -> None:
        if self._closing:
            return
        kind = event.get("event")
        if kind == "engine_stopping":  # asked to stop (by whoever started it): its end is no crash
            self._stopping_reason = str(event.get("reason") or "it was asked to")
            return
        request = self._requests.get(key)
        if key != 0 and kind in protocol.ENGINE_WIDE:
            if request is None:
                return
            if kind == "model_loaded":
                request.started = True
            if kind == "load_started":
                request.published = True
            # The engine-wide stream reports a real load once for every window; a load of the model already
            # loaded is answered on the request's own stream only, and is passed on from there.
            if request.published or kind not in ("model_loaded", "model_failed"):
                return
        mapped = protocol.signal_for(event, request.request_id if request else None)
        if mapped is None:
            return
        name, args = mapped
        if self._track(name, args, request):
            getattr(self.worker, name).emit(*args)

    def _track(self, name: str, args: tuple, request: _Request | None) -> bool:
        """Keep what the window must know about the engine; False when the event says nothing new."""
        if name == "load_started":
            self._loading = args[0]
        elif name in ("model_loaded", "model_failed"):
            self._loading = None
        elif name == "loaded_model_changed":
            if args[0] is None and self.loaded_model_id is None:
                return False  # already said (a release answers with the unload first, see below)
            self.loaded_model_id = args[0]
            if args[0] is not None:
                self._clear_crash_mark(args[0])
        elif name == "model_released" and self.loaded_model_id == args[0]:
            # The unload reaches the window on the engine-wide stream, the release on its own: whoever waits for
            # the release to delete the files must already have heard that the model is gone.
            self.loaded_model_id = None
            self.worker.loaded_model_changed.emit(None)
        elif name == "reply_started":
            self.busy_ids.add(args[0])
            if request is not None:
                request.started = True
        elif name == "token_batch_ready":
            self._received.setdefault(args[0], []).append(args[1])
        elif name in ("reply_finished", "reply_failed"):
            self._reply_over(args[0])
        return True

    def _reply_over(self, mid: int) -> None:
        self.busy_ids.discard(mid)
        self._stopped.discard(mid)
        self._received.pop(mid, None)

    @Slot(int, object)
    def _on_ended(self, key: int, error: Exception | None) -> None:
        request = self._requests.pop(key, None)
        if request is None or error is None or self._closing:
            return
        died = isinstance(error, EngineUnavailable)
        if died and request.model is not None and not request.started and request.model.id != self.loaded_model_id:
            self._loading = self._loading or request.model
            self._mark_crashed(request.model)
        message = str(error)
        if request.kind == "reply":
            mid = request.message_id
            if died:
                self._keep_interrupted(mid)
                message = INTERRUPTED_NOTE
            else:
                self._mark_failed(mid, message)
            self._reply_over(mid)
            self.worker.reply_failed.emit(mid, message)
        elif request.kind == "load":
            name = request.model.name if request.model else "The model"
            self.worker.model_failed.emit(f"{name} could not be loaded: the engine stopped." if died else message)
        elif request.kind == "benchmark":
            self.worker.benchmark_failed.emit(request.model.id, message if not died else
                                              f"The engine stopped during the benchmark of {request.model.name}.")
        elif request.kind == "compare":
            self.worker.comparison_failed.emit(request.request_id, message if not died else
                                               "The engine stopped during the comparison.")
        elif request.kind == "release":
            self.worker.model_released.emit(request.request_id)  # a dead engine holds no model
        if died:
            self._engine_gone()

    def _engine_gone(self) -> None:
        if self.loaded_model_id is not None:
            self.loaded_model_id = None
            self.worker.loaded_model_changed.emit(None)
        self.worker.state_changed.emit("idle")

    @Slot(str, str)
    def _on_crashed(self, how: str, details: str) -> None:
        if self._closing:
            return
        # The reader threads notice the same death; give their notices a moment to land so the sentence can
        # name the model that was loading.
        QTimer.singleShot(200, lambda: self._report_crash(how, details))

    def _report_crash(self, how: str, details: str) -> None:
        if self._closing:
            return
        loading = self._loading
        if self._stopping_reason is not None and loading is None:
            summary = f"The engine stopped ({self._stopping_reason}); the next request starts a new one."
        elif loading is not None:
            self._mark_crashed(loading)
            summary = f"The engine stopped while loading {loading.name} ({how}); it won't be loaded at start again."
        else:
            summary = f"The engine stopped ({how}); the next request restarts it."
        self._loading = None
        self._engine_gone()
        self.last_crash = (summary, details)
        self.engine_crashed.emit(summary, details)

    def _mark_crashed(self, model: ModelRef) -> None:
        rescue.mark_crashed(self.db, model.id)

    def _clear_crash_mark(self, model_id: int) -> None:
        rescue.clear_crash_mark(self.db, model_id)

    def _keep_interrupted(self, mid: int) -> None:
        rescue.keep_interrupted(self.db, mid, "".join(self._received.get(mid, [])))

    def _mark_failed(self, mid: int, message: str) -> None:
        rescue.mark_failed(self.db, mid, message)

    # -- closing ----------------------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 15000, stop_engine: bool | None = None) -> None:
        """Stop this window's replies (each is saved as stopped), then stop the engine this window started and
        wait for it to exit, so the database is never closed under a running job. A joined engine stays."""
        if self._closing:
            return
        from app.ui.engine import remote_vocab

        remote_vocab.uninstall(self)
        for mid in list(self.busy_ids):
            self._post_stop(mid, timeout=2.0)
        self._closing = True
        if self._events_stream is not None:
            self._events_stream.close()
        if stop_engine is None:
            stop_engine = not self.supervisor.keep_running
        self.supervisor.shutdown(stop_owned=stop_engine, timeout_s=timeout_ms / 1000)
        for request in list(self._requests.values()):
            request.stream.close()
