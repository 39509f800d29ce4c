"""The engine thread: the one owner of the loaded model. The UI talks to it only through queued signals.

Tokens are coalesced (about every 30 ms) so the event loop gets a few batches a second, not a signal per token.
Stop is a flag the generation loop reads after every token, so it takes effect within one token.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.core.chat.reply import run_reply
from app.core.chat.turns import PendingReply
from app.core.engine.backend import LoadedModelInfo, ModelLoadError
from app.core.engine.events import ContextTrimmed, Failed, Finished, TextDelta
from app.core.engine.host import ModelHost, resolve_backend
from app.core.library.benchmark import benchmark
from app.core.library.memory_meter import LoadMeter
from app.core.library.registry import ModelRef, record_benchmark
from app.core.storage.db import Database
from app.core.storage.models import Message, MessageStatus

log = logging.getLogger(__name__)

COALESCE_S = 0.030


class EngineWorker(QObject):
    """Lives in the engine thread; its slots run there."""

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

    def __init__(self, db: Database, host: ModelHost):
        super().__init__()
        self.db, self.host = db, host
        self._stop_ids: set[int] = set()
        self.meter = LoadMeter()

    def request_stop(self, message_id: int) -> None:
        """Called from the UI thread: a set insert is atomic, and the loop checks it after every token."""
        self._stop_ids.add(message_id)

    @Slot(object, str)
    def load(self, model: ModelRef, backend: str = "auto") -> LoadedModelInfo | None:
        if self.host.is_loaded(model.id) and self.host.backend_kind == resolve_backend(model.format, backend):
            self.model_loaded.emit(self.host.backend.info)
            return self.host.backend.info
        self.state_changed.emit("loading")
        self.load_started.emit(model, backend)
        if self.host.backend is not None:
            self.host.unload()  # first, so the memory baseline below does not include the previous model
            self.loaded_model_changed.emit(None)
        self.meter.before_load()
        try:
            loaded = self.host.load(model.id, model.path, model.name, model.format, backend)
        except ModelLoadError as exc:
            self.model_failed.emit(str(exc))
            self.state_changed.emit("idle")
            return None
        except Exception as exc:  # noqa: BLE001 - a load must never take the app down
            log.exception("model load failed")
            self.model_failed.emit(f"{model.name}: loading failed unexpectedly ({exc}).")
            self.state_changed.emit("idle")
            return None
        self.meter.loaded(model.id, loaded.info.n_ctx, loaded.info.backend)
        self._measure()
        self.model_loaded.emit(loaded.info)
        self.loaded_model_changed.emit(model.id)
        self.state_changed.emit("idle")
        return loaded.info

    def _measure(self) -> None:
        before = self.meter.peak
        try:
            if self.meter.sample(self.db) > before and self.meter.model_id is not None:
                self.memory_measured.emit(self.meter.model_id)
        except Exception:  # noqa: BLE001 - a measurement must never break a reply
            log.exception("memory measurement failed")

    @Slot()
    def unload(self) -> None:
        self.host.unload()
        self.loaded_model_changed.emit(None)
        self.state_changed.emit("idle")

    @Slot(int)
    def release(self, model_id: int) -> None:
        """Let go of a model whose files are about to be deleted. Requests run in order, so a load or a reply
        asked for before this one has finished by now, and the model is unloaded if it is the loaded one."""
        if self.host.model_id == model_id:
            self.unload()
        self.model_released.emit(model_id)

    @Slot(object)
    def benchmark(self, model: ModelRef) -> None:
        if self.load(model) is None:
            self.benchmark_failed.emit(model.id, f"{model.name} could not be loaded, so it was not benchmarked.")
            return
        self.state_changed.emit("generating")
        try:
            result = benchmark(self.host.backend)
            with self.db.session() as session:
                record_benchmark(session, model.id, result)
        except Exception as exc:  # noqa: BLE001 - report, keep the engine alive
            log.exception("benchmark failed")
            self.benchmark_failed.emit(model.id, f"The benchmark of {model.name} failed: {exc}")
        else:
            self.benchmark_finished.emit(model.id, result)
        finally:
            self._measure()
            self.state_changed.emit("idle")

    @Slot(int, object, object, str, object)
    def compare(self, request_id: int, model: ModelRef, adapter, prompt: str, params) -> None:
        """One prompt answered by the base model and by the adapter, same settings and seed (the blind A/B)."""
        from app.core.engine.backend import ChatMessage

        if self.load(model) is None:
            self.comparison_failed.emit(request_id, f"{model.name} could not be loaded.")
            return
        self.state_changed.emit("generating")
        replies = []
        try:
            for variant in (None, adapter):
                self.host.backend.set_adapter(variant)
                events = list(self.host.backend.stream([ChatMessage("user", prompt)], params, lambda: False))
                final = events[-1]
                if isinstance(final, Failed):
                    raise ModelLoadError(final.message)
                replies.append(final.text)
        except ModelLoadError as exc:
            self.comparison_failed.emit(request_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - report, keep the engine alive
            log.exception("comparison failed")
            self.comparison_failed.emit(request_id, f"The comparison failed: {exc}")
        else:
            self.comparison_finished.emit(request_id, replies[0], replies[1])
        finally:
            try:
                self.host.backend.set_adapter(None)  # the next chat reply applies its conversation's own adapter
            except ModelLoadError:
                pass
            self.state_changed.emit("idle")

    @Slot(object)
    def generate(self, pending: PendingReply) -> None:
        mid = pending.assistant_id
        if mid in self._stop_ids:  # stopped before it started
            self._fail(mid, "Stopped before it started.")
            return
        if self.load(pending.model, pending.backend) is None:
            self._fail(mid, f"{pending.model.name} could not be loaded, so there is no reply.")
            return
        try:
            self.host.backend.set_adapter(pending.adapter)
        except ModelLoadError as exc:
            self._fail(mid, str(exc))
            self.state_changed.emit("idle")
            return
        self.state_changed.emit("generating")
        self.reply_started.emit(mid)
        buffer: list[str] = []
        last_emit = 0.0
        try:
            for event in run_reply(self.db, self.host.backend, pending, lambda: mid in self._stop_ids):
                if isinstance(event, TextDelta):
                    buffer.append(event.text)
                    now = time.perf_counter()
                    if now - last_emit >= COALESCE_S:
                        self.token_batch_ready.emit(mid, "".join(buffer))
                        if event.tokens:
                            self.generation_progress.emit(mid, event.tokens, event.tokens_per_s)
                        buffer.clear()
                        last_emit = now
                elif isinstance(event, ContextTrimmed):
                    self.context_trimmed.emit(mid, event)
                elif isinstance(event, Finished):
                    if buffer:
                        self.token_batch_ready.emit(mid, "".join(buffer))
                        buffer.clear()
                    self.reply_finished.emit(mid, event)
                elif isinstance(event, Failed):
                    self.reply_failed.emit(mid, event.message)
        finally:
            self._stop_ids.discard(mid)
            self._measure()
            self.state_changed.emit("idle")

    def _fail(self, mid: int, message: str) -> None:
        with self.db.session() as session:
            msg = session.get(Message, mid)
            if msg is not None:
                msg.status, msg.error, msg.owner_pid = MessageStatus.ERROR, message, None
        self._stop_ids.discard(mid)
        self.reply_failed.emit(mid, message)


class EngineController(QObject):
    """Main-thread façade: starts the engine thread and queues requests to it."""

    _load_requested = Signal(object, str)
    _generate_requested = Signal(object)
    _unload_requested = Signal()
    _release_requested = Signal(int)
    _benchmark_requested = Signal(object)
    _compare_requested = Signal(int, object, object, str, object)

    def __init__(self, db: Database, host: ModelHost, parent: QObject | None = None):
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("engine")
        self.worker = EngineWorker(db, host)
        self.worker.moveToThread(self.thread)
        self._load_requested.connect(self.worker.load)
        self._generate_requested.connect(self.worker.generate)
        self._unload_requested.connect(self.worker.unload)
        self._release_requested.connect(self.worker.release)
        self._benchmark_requested.connect(self.worker.benchmark)
        self._compare_requested.connect(self.worker.compare)
        self.busy_ids: set[int] = set()
        self.worker.reply_started.connect(self._on_started)
        self.worker.reply_finished.connect(self._on_done)
        self.worker.reply_failed.connect(self._on_done)
        self.thread.start()

    def load(self, model: ModelRef, backend: str = "auto") -> None:
        self._load_requested.emit(model, backend)

    def generate(self, pending: PendingReply) -> None:
        self.busy_ids.add(pending.assistant_id)
        self._generate_requested.emit(pending)

    def stop(self, message_id: int) -> None:
        self.worker.request_stop(message_id)

    def stop_all(self) -> None:
        for mid in list(self.busy_ids):
            self.worker.request_stop(mid)

    def unload(self) -> None:
        self._unload_requested.emit()

    def release(self, model_id: int) -> None:
        """Unload this model if the engine has it (after what is queued before); `model_released` answers."""
        self._release_requested.emit(model_id)

    def benchmark(self, model: ModelRef) -> None:
        self._benchmark_requested.emit(model)

    def compare(self, request_id: int, model: ModelRef, adapter, prompt: str, params) -> None:
        self._compare_requested.emit(request_id, model, adapter, prompt, params)

    @Slot(int)
    def _on_started(self, mid: int) -> None:
        self.busy_ids.add(mid)

    @Slot(int, object)
    def _on_done(self, mid: int, _payload) -> None:
        self.busy_ids.discard(mid)

    def shutdown(self, timeout_ms: int = 10000) -> None:
        """Stop any reply (it is saved as stopped), then end the thread and free the model."""
        self.stop_all()
        self.thread.quit()
        if not self.thread.wait(timeout_ms):
            log.warning("engine thread did not stop in time")
            return
        self.worker.host.unload()
