"""The window's routes (`/hearth/v1`, the internal token required): each use of the model is a POST answered by a
Server-Sent Events stream of that job's events, ending with one final event.

A route checks the request, queues one job on the model owner (`Scheduler`) and relays its events; the routes
that queue are coroutines, since a job's events reach the event loop it was submitted from. Leaving the stream,
or a client that disconnects, stops the job: a queued one never runs, a running one ends within one token. Errors
found before the job is queued are plain HTTP errors: 404 for an unknown model or adapter, 422 for a malformed
body, 503 with Retry-After when the queue is full.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from app import __version__, paths
from app.core.chat.turns import PendingReply
from app.core.engine.host import BACKEND_CHOICES
from app.core.engine.params import GenerationParams
from app.core.library.registry import ModelRef, get_model
from app.core.storage.models import Adapter
from app.core.training.adapters import ref_of
from app.service.auth import require_token
from app.service.request_log import client_of, log_request
from app.service.scheduler import JobContext, JobHandle, JobStopped, QueueFull
from app.service.state import EngineState, engine_state

router = APIRouter(prefix="/hearth/v1", dependencies=[Depends(require_token)])

RETRY_AFTER_S = 1
REPLAYED = ("state", "model_loaded", "loaded_model_changed")  # a new /events subscriber starts from these
STOPPING = "engine_stopping"  # published once when the engine is asked to stop; ends every /events stream
# When the engine stops, its streams end on their own (their jobs are stopped, /events gets STOPPING); this is
# how long they get before the server cuts them.
STREAM_GRACE_S = 3.0


class LoadBody(BaseModel):
    model_id: int
    backend: str = "auto"


class ReleaseBody(BaseModel):
    model_id: int


class ReplyBody(BaseModel):
    conversation_id: int
    assistant_id: int
    parent_id: int
    model_id: int
    backend: str = "auto"
    adapter_id: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class BenchmarkBody(BaseModel):
    model_id: int
    backend: str = "auto"


class CompareBody(BaseModel):
    model_id: int
    adapter_id: int
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict)
    backend: str = "auto"


# --- helpers -------------------------------------------------------------------------------------------------


def _model(state: EngineState, model_id: int) -> ModelRef:
    with state.core.db.session() as session:
        model = get_model(session, model_id)
    if model is None:
        raise HTTPException(404, f"There is no model {model_id} in the library.")
    return model


def _adapter(state: EngineState, adapter_id: int):
    with state.core.db.session() as session:
        row = session.get(Adapter, adapter_id)
        if row is None:
            raise HTTPException(404, f"There is no adapter {adapter_id}.")
        return ref_of(row)


def _backend(choice: str) -> str:
    if choice not in BACKEND_CHOICES:
        raise HTTPException(422, f"Unknown backend {choice!r}; use one of {', '.join(BACKEND_CHOICES)}.")
    return choice


def _submit(state: EngineState, fn: Callable[[JobContext], Any], label: str, **kwargs) -> JobHandle:
    try:
        return state.scheduler.submit(fn, label, **kwargs)
    except QueueFull as exc:
        raise HTTPException(503, f"The engine is busy: {exc}. Try again shortly.",
                            headers={"Retry-After": str(RETRY_AFTER_S)}) from exc


def _logged(state: EngineState, request: Request, job: Callable[[JobContext], dict]) -> Callable[[JobContext], dict]:
    """Run `job`, then put it in the request log (on the owner thread: also when the client has gone)."""
    client, route = client_of(request), request.url.path

    def run(ctx: JobContext) -> dict:
        try:
            summary = job(ctx) or {}
        except Exception:
            log_request(state, client=client, route=route, status=500, outcome="failed")
            raise
        log_request(state, client=client, route=route, status=200, **summary)
        return summary

    return run


def _stream(handle: JobHandle, on_end: Callable[[], None] | None = None,
            failed: Callable[[str], dict] | None = None) -> EventSourceResponse:
    """The job's events as an SSE response. `failed(message)` is the final event sent when the job raised instead
    of ending with its own (the jobs catch what they expect; this is the net under them)."""

    async def events() -> AsyncIterator[dict]:
        try:
            async for event in handle.events():
                yield {"data": json.dumps(event)}
            if handle.error is not None and not isinstance(handle.error, JobStopped) and failed is not None:
                yield {"data": json.dumps(failed(f"The engine could not finish this: {handle.error}"))}
        finally:  # the job's end, the client's disconnect, or the engine shutting down
            handle.stop()
            if on_end is not None:
                on_end()

    return EventSourceResponse(events(), shutdown_grace_period=STREAM_GRACE_S)


# --- routes --------------------------------------------------------------------------------------------------


@router.get("/status")
def status(state: EngineState = Depends(engine_state)) -> dict:
    jobs = state.jobs
    running = state.scheduler.running
    return {
        "pid": os.getpid(),
        "version": __version__,
        "data_folder": str(paths.root()),
        "loaded_model": jobs.loaded(),
        "state": jobs.state,
        "queue": state.scheduler.waiting,
        "running": running.label if running is not None else None,
        "api_key_required": state.api_key is not None,
    }


@router.get("/events")
async def events(state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    async def stream() -> AsyncIterator[dict]:
        async for event in state.hub.subscribe(replay=REPLAYED):
            yield {"data": json.dumps(event)}
            if event["event"] == STOPPING:  # the last one: the response ends cleanly before the engine does
                return

    return EventSourceResponse(stream(), shutdown_grace_period=STREAM_GRACE_S)


@router.post("/load")
async def load(body: LoadBody, state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    model, backend = _model(state, body.model_id), _backend(body.backend)
    handle = _submit(state, lambda ctx: state.jobs.load(ctx, model, backend, echo=True), f"load {model.name}")
    return _stream(handle, failed=lambda message: {"event": "model_failed", "model_id": model.id, "message": message})


@router.post("/unload")
async def unload(state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    return _stream(_submit(state, state.jobs.unload, "unload"))


@router.post("/release")
async def release(body: ReleaseBody, state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    handle = _submit(state, lambda ctx: state.jobs.release(ctx, body.model_id), f"release {body.model_id}",
                     on_skip=lambda ctx: state.jobs.release(ctx, body.model_id))  # a release is never skipped
    return _stream(handle)


@router.post("/replies")
async def reply(body: ReplyBody, request: Request, state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    model, backend = _model(state, body.model_id), _backend(body.backend)
    adapter = _adapter(state, body.adapter_id) if body.adapter_id is not None else None
    params = GenerationParams.from_dict(body.params)
    pending = PendingReply(body.conversation_id, body.assistant_id, body.parent_id, model, params, backend, adapter)
    jobs, mid = state.jobs, body.assistant_id
    handle = _submit(state, _logged(state, request, lambda ctx: jobs.reply(ctx, pending)), f"reply {mid}",
                     on_skip=lambda ctx: jobs.fail_reply(ctx, mid, "Stopped before it started."))
    jobs.reply_handles[mid] = handle

    def forget() -> None:
        if jobs.reply_handles.get(mid) is handle:
            del jobs.reply_handles[mid]

    return _stream(handle, on_end=forget,
                   failed=lambda message: {"event": "reply_failed", "assistant_id": mid, "message": message})


@router.post("/replies/{assistant_id}/stop")
async def stop_reply(assistant_id: int, state: EngineState = Depends(engine_state)) -> dict:
    """Stop that reply, queued or running (it is saved as stopped); asked before its request arrived, it never
    starts. `tokens`: how many it had generated when the stop was set (it ends within one more)."""
    handle = state.jobs.reply_handles.get(assistant_id)
    if handle is not None:
        handle.stop()
    else:
        state.jobs.stop_ahead(assistant_id)
    return {"stopped": True, "tokens": state.jobs.tokens_so_far.get(assistant_id, 0)}


@router.post("/benchmark")
async def run_benchmark(body: BenchmarkBody, request: Request,
                        state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    model, backend = _model(state, body.model_id), _backend(body.backend)
    job = _logged(state, request, lambda ctx: state.jobs.benchmark(ctx, model, backend))
    return _stream(_submit(state, job, f"benchmark {model.name}"),
                   failed=lambda message: {"event": "benchmark_failed", "model_id": model.id, "message": message})


@router.post("/compare")
async def compare(body: CompareBody, request: Request,
                  state: EngineState = Depends(engine_state)) -> EventSourceResponse:
    model, backend = _model(state, body.model_id), _backend(body.backend)
    adapter = _adapter(state, body.adapter_id)
    params = GenerationParams.from_dict(body.params)
    job = _logged(state, request, lambda ctx: state.jobs.compare(ctx, model, adapter, body.prompt, params, backend))
    return _stream(_submit(state, job, f"compare {model.name}"),
                   failed=lambda message: {"event": "comparison_failed", "message": message})


