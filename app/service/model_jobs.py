"""What the engine runs on its model owner thread: load, unload, release, a chat reply, a benchmark, an A/B.

Each method takes the scheduler's `JobContext` and runs on the owner thread, the only thread that touches the
`ModelHost`. A job reports to its own caller with `ctx.emit` (the events of that request's stream) and to every
window with `hub.publish` (engine-wide: state, loads, measured memory). Events are plain dicts with an "event"
key; dataclasses travel as their fields (docs/engine-service.md lists every event).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from app.core.chat.reply import run_reply
from app.core.chat.turns import PendingReply
from app.core.engine.backend import AdapterRef, ChatMessage, LoadedModelInfo, ModelLoadError
from app.core.engine.events import ContextTrimmed, Failed, Finished, TextDelta
from app.core.engine.host import ModelHost, resolve_backend
from app.core.engine.params import GenerationParams
from app.core.library.benchmark import BenchmarkStopped, benchmark
from app.core.library.memory_meter import LoadMeter
from app.core.library.registry import ModelRef, record_benchmark
from app.core.storage.db import Database
from app.core.storage.models import Message, MessageStatus
from app.core.storage.recovery import this_process
from app.service.hub import EventHub
from app.service.scheduler import JobContext
from app.service.crash_hooks import abort_if_asked

log = logging.getLogger(__name__)

COALESCE_S = 0.030  # tokens reach a window in batches about this often, not one message per token
STOP_AHEAD_S = 60.0  # how long a stop asked before its reply's request arrived is kept for it


class ModelJobs:
    def __init__(self, host: ModelHost, db: Database, hub: EventHub):
        self.host, self.db, self.hub = host, db, hub
        self.meter = LoadMeter()
        self.state = "idle"
        # Replies asked to stop before their request reached the engine (the window's stop can overtake it), with
        # when: stops for replies whose request never comes (or had already ended) are dropped after a while
        # instead of piling up for the life of the engine.
        self.stop_requests: dict[int, float] = {}
        self.reply_handles: dict = {}  # assistant id -> JobHandle of a reply queued or running (event loop side)
        self.tokens_so_far: dict[int, int] = {}  # assistant id -> tokens generated, while it runs (the stop route)
        self.set_state("idle")  # so the first subscriber of /events hears the state at once

    # --- engine-wide state -------------------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        self.state = state
        self.hub.publish({"event": "state", "state": state})

    def loaded(self) -> dict | None:
        """The loaded model as the status route shows it: {"id", "info"}; None when nothing is loaded."""
        backend, model_id = self.host.backend, self.host.model_id
        if backend is None or model_id is None:
            return None
        return {"id": model_id, "info": asdict(backend.info)}

    def _measure(self) -> None:
        before = self.meter.peak
        try:
            peak = self.meter.sample(self.db)
            if peak > before and self.meter.model_id is not None:
                self.hub.publish({"event": "memory_measured", "model_id": self.meter.model_id, "peak_bytes": peak})
        except Exception:  # noqa: BLE001 - a measurement must never break a reply
            log.exception("memory measurement failed")

    # --- loading -----------------------------------------------------------------------------------------------

    def load(self, ctx: JobContext, model: ModelRef, backend: str = "auto", *, echo: bool = False
             ) -> LoadedModelInfo | None:
        """Make `model` the loaded one (with that backend); None when it cannot be loaded (`model_failed` says
        why). With `echo`, the load's events also go to this job's own stream (the /load route)."""

        def tell(event: dict) -> None:
            self.hub.publish(event)
            if echo:
                ctx.emit(event)

        host = self.host
        if host.is_loaded(model.id) and host.backend_kind == resolve_backend(model.format, backend):
            if echo:
                ctx.emit({"event": "model_loaded", "model_id": model.id, "info": asdict(host.backend.info)})
            return host.backend.info
        self.set_state("loading")
        tell({"event": "load_started", "model": asdict(model), "backend": backend})
        if host.backend is not None:
            host.unload()  # first, so the memory baseline below does not include the previous model
            self.hub.publish({"event": "loaded_model_changed", "model_id": None})
        self.meter.before_load()
        self._follow_settings()
        abort_if_asked(model.path)  # a test hook (app/service/crash_hooks.py); does nothing unless the tests set it
        try:
            loaded = host.load(model.id, model.path, model.name, model.format, backend)
        except (ModelLoadError, ValueError) as exc:
            message = str(exc)
        except Exception as exc:  # noqa: BLE001 - a load must never take the engine down
            log.exception("model load failed")
            message = f"{model.name}: loading failed unexpectedly ({exc})."
        else:
            self.meter.loaded(model.id, loaded.info.n_ctx, loaded.info.backend)
            self._measure()
            tell({"event": "model_loaded", "model_id": model.id, "info": asdict(loaded.info)})
            self.hub.publish({"event": "loaded_model_changed", "model_id": model.id})
            self.set_state("idle")
            return loaded.info
        tell({"event": "model_failed", "model_id": model.id, "message": message})
        self.set_state("idle")
        return None

    def _follow_settings(self) -> None:
        """The window changes the load settings in its own process; each load reads the settings file again."""
        try:
            from app.core.settings import Settings

            settings = Settings()
            self.host.n_threads, self.host.n_ctx, self.host.n_gpu_layers = (
                settings["n_threads"], settings["context_length"], settings["gpu_layers"])
        except Exception:  # noqa: BLE001 - an unreadable file leaves the settings the engine started with
            log.exception("could not read the settings before a load")

    def unload(self, ctx: JobContext) -> None:
        self.host.unload()
        event = {"event": "loaded_model_changed", "model_id": None}
        self.hub.publish(event)
        ctx.emit(event)
        self.set_state("idle")

    def release(self, ctx: JobContext, model_id: int) -> None:
        """Let go of a model whose files are about to be deleted. Jobs run in order, so whatever was asked of it
        before has finished by now; it is unloaded if it is the loaded one."""
        if self.host.model_id == model_id:
            self.host.unload()
            self.hub.publish({"event": "loaded_model_changed", "model_id": None})
            self.set_state("idle")
        from app.core.library.registry import get_model
        from app.service.openai_jobs import close_embeddings  # the API's embedding context holds the file open too

        with self.db.session() as session:
            model = get_model(session, model_id)
        if model is not None:
            close_embeddings(self.host, model.path)
        ctx.emit({"event": "model_released", "model_id": model_id})

    # --- a chat reply ------------------------------------------------------------------------------------------

    def reply(self, ctx: JobContext, pending: PendingReply) -> dict:
        """Stream one reply into its message row (saved as it grows) and to the caller, coalesced. Returns what
        the request log shows. Whatever goes wrong, the caller hears a final event and the row does not stay
        `streaming` under a live engine."""
        summary = {"model": pending.model.name, "prompt_tokens": None, "completion_tokens": None,
                   "tokens_per_s": None, "outcome": "failed"}
        try:
            return self._reply(ctx, pending, summary)
        except Exception as exc:  # noqa: BLE001 - a failed reply must not leave its caller or its row hanging
            log.exception("reply %d failed", pending.assistant_id)
            try:
                self.fail_reply(ctx, pending.assistant_id, f"The reply failed: {exc}")
            except Exception:  # noqa: BLE001 - the database itself failed: the caller still hears it
                log.exception("could not mark reply %d as failed", pending.assistant_id)
                ctx.emit({"event": "reply_failed", "assistant_id": pending.assistant_id,
                          "message": f"The reply failed: {exc}"})
            return summary

    def _reply(self, ctx: JobContext, pending: PendingReply, summary: dict) -> dict:
        mid = pending.assistant_id
        asked_at = self.stop_requests.pop(mid, None)
        if asked_at is not None and time.monotonic() - asked_at < STOP_AHEAD_S:
            self.fail_reply(ctx, mid, "Stopped before it started.")
            summary["outcome"] = "stopped"
            return summary
        if not self._claim(mid):
            ctx.emit({"event": "reply_failed", "assistant_id": mid,
                      "message": "The reply's message no longer exists (its conversation was deleted)."})
            return summary
        if self.load(ctx, pending.model, pending.backend) is None:
            self.fail_reply(ctx, mid, f"{pending.model.name} could not be loaded, so there is no reply.")
            return summary
        try:
            self.host.backend.set_adapter(pending.adapter)
        except ModelLoadError as exc:
            self.fail_reply(ctx, mid, str(exc))
            return summary
        self.set_state("generating")
        ctx.emit({"event": "reply_started", "assistant_id": mid})
        buffer: list[str] = []
        last_emit = 0.0
        should_stop = ctx.should_stop
        try:
            for event in run_reply(self.db, self.host.backend, pending, should_stop):
                if isinstance(event, TextDelta):
                    self.tokens_so_far[mid] = event.tokens or self.tokens_so_far.get(mid, 0)
                    buffer.append(event.text)
                    now = time.perf_counter()
                    if now - last_emit >= COALESCE_S:
                        ctx.emit({"event": "tokens", "assistant_id": mid, "text": "".join(buffer)})
                        if event.tokens:
                            ctx.emit({"event": "progress", "assistant_id": mid, "tokens": event.tokens,
                                      "tokens_per_s": event.tokens_per_s})
                        buffer.clear()
                        last_emit = now
                elif isinstance(event, ContextTrimmed):
                    ctx.emit({"event": "context_trimmed", "assistant_id": mid, "trimmed": asdict(event)})
                elif isinstance(event, Finished):
                    if buffer:
                        ctx.emit({"event": "tokens", "assistant_id": mid, "text": "".join(buffer)})
                        buffer.clear()
                    ctx.emit({"event": "reply_finished", "assistant_id": mid, "finished": asdict(event)})
                    summary.update(prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens,
                                   tokens_per_s=round(event.tokens_per_s, 2), outcome=event.finish_reason)
                elif isinstance(event, Failed):
                    ctx.emit({"event": "reply_failed", "assistant_id": mid, "message": event.message})
        finally:
            self.tokens_so_far.pop(mid, None)
            self._measure()
            self.set_state("idle")
        return summary

    def _claim(self, mid: int) -> bool:
        """The window created the placeholder; from now on this process writes it (crash recovery asks whose)."""
        pid, started = this_process()
        with self.db.session() as session:
            msg = session.get(Message, mid)
            if msg is None:
                return False
            msg.owner_pid, msg.owner_started = pid, started
            return True

    def stop_ahead(self, mid: int) -> None:
        """Remember a stop for a reply whose request has not arrived yet (it will not start)."""
        now = time.monotonic()
        for old, asked_at in list(self.stop_requests.items()):
            if now - asked_at >= STOP_AHEAD_S:
                self.stop_requests.pop(old, None)
        self.stop_requests[mid] = now

    def fail_reply(self, ctx: JobContext, mid: int, message: str) -> None:
        """The reply never ran: its message says why, and the caller hears it."""
        with self.db.session() as session:
            msg = session.get(Message, mid)
            if msg is not None:
                msg.status, msg.error, msg.owner_pid = MessageStatus.ERROR, message, None
        ctx.emit({"event": "reply_failed", "assistant_id": mid, "message": message})

    # --- benchmark and A/B -------------------------------------------------------------------------------------

    def benchmark(self, ctx: JobContext, model: ModelRef, backend: str = "auto") -> dict:
        summary = {"model": model.name, "outcome": "failed"}
        if self.load(ctx, model, backend) is None:
            ctx.emit({"event": "benchmark_failed", "model_id": model.id,
                      "message": f"{model.name} could not be loaded, so it was not benchmarked."})
            return summary
        self.set_state("generating")
        try:
            result = benchmark(self.host.backend, should_stop=ctx.should_stop)
            with self.db.session() as session:
                record_benchmark(session, model.id, result)
        except BenchmarkStopped:
            ctx.emit({"event": "benchmark_failed", "model_id": model.id,
                      "message": f"The benchmark of {model.name} was stopped."})
            summary["outcome"] = "stopped"
        except Exception as exc:  # noqa: BLE001 - report, keep the engine alive
            log.exception("benchmark failed")
            ctx.emit({"event": "benchmark_failed", "model_id": model.id,
                      "message": f"The benchmark of {model.name} failed: {exc}"})
        else:
            ctx.emit({"event": "benchmark_finished", "model_id": model.id, "result": result})
            summary.update(prompt_tokens=result["prompt_tokens"], completion_tokens=result["gen_tokens"],
                           tokens_per_s=result["gen_tok_s"], outcome="complete")
        finally:
            self._measure()
            self.set_state("idle")
        return summary

    def compare(self, ctx: JobContext, model: ModelRef, adapter: AdapterRef, prompt: str,
                params: GenerationParams, backend: str = "auto") -> dict:
        """One prompt answered by the base model and by the adapter, same settings and seed (the blind A/B)."""
        summary = {"model": f"{model.name}@{adapter.name}", "outcome": "failed"}
        if self.load(ctx, model, backend) is None:
            ctx.emit({"event": "comparison_failed", "message": f"{model.name} could not be loaded."})
            return summary
        self.set_state("generating")
        replies: list[str] = []
        try:
            for variant in (None, adapter):
                self.host.backend.set_adapter(variant)
                final = None
                for final in self.host.backend.stream([ChatMessage("user", prompt)], params, ctx.should_stop):
                    pass
                if isinstance(final, Failed):
                    raise ModelLoadError(final.message)
                if ctx.should_stop():
                    ctx.emit({"event": "comparison_failed", "message": "The comparison was stopped."})
                    summary["outcome"] = "stopped"
                    return summary
                replies.append(final.text)
        except ModelLoadError as exc:
            ctx.emit({"event": "comparison_failed", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - report, keep the engine alive
            log.exception("comparison failed")
            ctx.emit({"event": "comparison_failed", "message": f"The comparison failed: {exc}"})
        else:
            ctx.emit({"event": "comparison_finished", "base": replies[0], "adapter": replies[1]})
            summary["outcome"] = "complete"
        finally:
            try:
                self.host.backend.set_adapter(None)  # the next chat reply applies its conversation's own adapter
            except ModelLoadError:
                pass
            self.set_state("idle")
        return summary
