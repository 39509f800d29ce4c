"""The OpenAI-compatible API (`/v1`): models, chat completions, completions, embeddings, and Hearth's feedback.

Every generation is a job on the engine's scheduler, so API requests wait in the same FIFO queue as the window's
replies; `model` names any library model (name or id, `NAME@ADAPTER` for a trained adapter) and loads it on
demand. A client that disconnects stops its job within one token. Errors come in OpenAI's JSON shape. Each request
ends with one `request` event on the hub (the Server page's log). See the README's "Server" section.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from app.core.chat.api_exchanges import rate_completion
from app.core.engine.backend import ChatMessage
from app.core.engine.params import GenerationParams
from app.service import openai_jobs as jobs
from app.service.openai_schema import (
    APIError, ChatCompletionRequest, CompletionRequest, EmbeddingRequest, FeedbackRequest, parse_body,
)
from app.service.request_log import client_of, log_request
from app.service.scheduler import JobHandle, QueueFull
from app.service.state import EngineState, bearer

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1")

KEEP_SETTING = "server_keep_api_conversations"
RETRY_AFTER_S = 5
CLIENT_GONE = 499  # the request log's status for a client that left before its answer (nginx's convention)
PING_S = 15  # a comment line now and then keeps proxies from closing a stream that waits in the queue
# What a request does not say is Hearth's usual setting, except the repeat penalty: OpenAI has none (it has
# presence and frequency penalties), so an OpenAI client gets none unless it asks (`repeat_penalty` in extra_body).
API_REPEAT_PENALTY = 1.0


def _state(request: Request) -> EngineState:
    return request.app.state.engine


def _check_key(request: Request) -> None:
    if not _state(request).api_key_matches(bearer(request)):
        which = "No API key was given" if not bearer(request) else "The API key is not the one this server expects"
        raise APIError(401, f"{which}. Send it as 'Authorization: Bearer KEY' (the key is on Hearth's Server page).",
                       code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def _log(request: Request, status: int, model: str | None = None, usage: dict | None = None,
         tokens_per_s: float | None = None) -> None:
    usage = usage or {}
    log_request(_state(request), client=client_of(request), route=request.url.path, model=model,
                prompt_tokens=usage.get("prompt_tokens"), completion_tokens=usage.get("completion_tokens"),
                tokens_per_s=None if tokens_per_s is None else round(tokens_per_s, 2), status=status)


def _refusal(request: Request, exc: APIError, model: str | None = None) -> JSONResponse:
    _log(request, exc.status, model)
    return exc.response()


# --- models ----------------------------------------------------------------------------------------------------
@router.get("/models")
async def list_models(request: Request):
    try:
        _check_key(request)
    except APIError as exc:
        return exc.response()
    state = _state(request)
    data = await run_in_threadpool(jobs.list_targets, state.core.db, state.scheduler.host.model_id)
    return {"object": "list", "data": data}


# --- chat completions and completions --------------------------------------------------------------------------
@router.post("/chat/completions")
async def chat_completions(request: Request):
    return await _generate(request, ChatCompletionRequest)


@router.post("/completions")
async def completions(request: Request):
    return await _generate(request, CompletionRequest)


async def _generate(request: Request, kind: type) -> Any:
    state = _state(request)
    target = None
    try:
        _check_key(request)
        body = parse_body(await request.body(), kind)
        target = await run_in_threadpool(jobs.resolve_target, state.core.db, body.model)
        generation = _generation_request(body, target, _keep(state))
        handle = _submit(state, jobs.generation_job(state.core.db, generation, state.jobs), "api " + kind.__name__)
    except APIError as exc:
        return _refusal(request, exc, target.name if target else None)
    watcher = asyncio.create_task(_stop_on_disconnect(request, handle))
    events = handle.events()
    first = await anext(events, None)
    if first is None or first["event"] == "error":
        watcher.cancel()
        return _refusal(request, _job_error(first, handle), target.name)
    chat = kind is ChatCompletionRequest
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        stream = _stream(request, handle, events, first, watcher, chat, include_usage)
        return EventSourceResponse(stream, ping=PING_S)
    try:
        text, final = await _collect(events)
    finally:
        watcher.cancel()
    if final is None or final["event"] == "error":
        return _refusal(request, _job_error(final, handle), target.name)
    usage = _usage(final)
    gone = final["finish_reason"] == "stopped"  # only a disconnect stops an API job
    _log(request, CLIENT_GONE if gone else 200, first["model"], usage, final["tokens_per_s"])
    return _response(first, text, final, usage, chat)


def _keep(state: EngineState) -> bool:
    try:
        return bool(state.core.settings[KEEP_SETTING])
    except KeyError:  # the setting is not declared in this build: nothing is kept
        return False


def _submit(state: EngineState, job, label: str) -> JobHandle:
    try:
        return state.scheduler.submit(job, label)
    except QueueFull as exc:
        raise APIError(503, f"The engine is busy: {exc}. Try again in a few seconds.", type="server_error",
                       code="queue_full", headers={"Retry-After": str(RETRY_AFTER_S)}) from exc


async def _stop_on_disconnect(request: Request, handle: JobHandle) -> None:
    """The body has been read, so the next ASGI message can only be the client going away: stop the job then
    (queued, it is skipped; running, it ends within one token)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            handle.stop()
            return


def _job_error(event: dict | None, handle: JobHandle) -> APIError:
    if event is None and handle.stop_event.is_set():  # the client left while it waited: nobody reads this
        return APIError(CLIENT_GONE, "The client closed the request before it was answered.", code="client_gone")
    if event is None:  # the job raised instead of reporting: a bug, logged by the scheduler
        return APIError(500, f"The request failed inside the engine ({handle.error!r}); see the engine's log.",
                        type="server_error")
    return APIError(event["status"], event["message"], type=event["type"], param=event["param"], code=event["code"])


async def _collect(events: AsyncIterator[dict]) -> tuple[str, dict | None]:
    pieces, final = [], None
    async for event in events:
        if event["event"] == "delta":
            pieces.append(event["text"])
        elif event["event"] in ("finished", "error"):
            final = event
    return "".join(pieces), final


def _usage(final: dict) -> dict:
    prompt, completion = final["prompt_tokens"], final["completion_tokens"]
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish_reason(final: dict) -> str:
    return "length" if final["finish_reason"] in ("length", "context") else "stop"


def _response(first: dict, text: str, final: dict, usage: dict, chat: bool) -> dict:
    base = {"id": first["id"], "created": int(time.time()), "model": first["model"], "system_fingerprint": None,
            "usage": usage}
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None}, "logprobs": None,
                  "finish_reason": _finish_reason(final)}
        return {**base, "object": "chat.completion", "choices": [choice]}
    choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": _finish_reason(final)}
    return {**base, "object": "text_completion", "choices": [choice]}


async def _stream(request: Request, handle: JobHandle, events: AsyncIterator[dict], first: dict,
                  watcher: asyncio.Task, chat: bool, include_usage: bool) -> AsyncIterator[dict]:
    created = int(time.time())
    head = {"id": first["id"], "created": created, "model": first["model"], "system_fingerprint": None}
    if include_usage:
        head["usage"] = None
    kind = "chat.completion.chunk" if chat else "text_completion"

    def chunk(piece: str | None, finish: str | None = None, role: bool = False) -> dict:
        if chat:
            delta = {} if piece is None else {"content": piece}
            if role:
                delta = {"role": "assistant", "content": ""}
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": piece or "", "logprobs": None, "finish_reason": finish}
        return {"data": json.dumps({**head, "object": kind, "choices": [choice]})}

    final, status = None, 200
    try:
        if chat:
            yield chunk(None, role=True)
        async for event in events:
            if event["event"] == "delta":
                yield chunk(event["text"])
            elif event["event"] == "finished":
                final = event
                yield chunk(None, _finish_reason(event))
            elif event["event"] == "error":  # after the first token the status is sent: say it in the stream
                status = event["status"]
                yield {"data": json.dumps(_job_error(event, handle).body())}
        if final is not None and include_usage:
            yield {"data": json.dumps({**head, "object": kind, "choices": [], "usage": _usage(final)})}
        yield {"data": "[DONE]"}
    finally:
        handle.stop()  # a no-op once the job has ended; stops it when the client went away mid-stream
        watcher.cancel()
        usage = _usage(final) if final else None
        _log(request, status, first["model"], usage, final["tokens_per_s"] if final else None)


def _generation_request(body, target: jobs.Target, keep: bool) -> jobs.GenerationRequest:
    chat = isinstance(body, ChatCompletionRequest)
    if body.n != 1:
        raise APIError(400, "Only n=1 is supported: the engine writes one reply per request.", param="n")
    if chat and body.tools:
        raise APIError(400, "Tool calls are not supported by this server.", param="tools")
    if body.logprobs:
        raise APIError(400, "logprobs are not supported by this server.", param="logprobs")
    max_tokens = (body.max_completion_tokens or body.max_tokens) if chat else body.max_tokens
    params = _params(body)
    if chat:
        return jobs.GenerationRequest(target, params, max_tokens, messages=_messages(body), keep=keep)
    if body.echo or body.suffix:
        raise APIError(400, "echo and suffix are not supported by this server.",
                       param="echo" if body.echo else "suffix")
    prompt = body.prompt
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise APIError(400, "Send one prompt per request (a list of several is not supported).", param="prompt")
        prompt = prompt[0]
    return jobs.GenerationRequest(target, params, max_tokens, prompt=prompt)


def _params(body) -> GenerationParams:
    stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
    try:
        bias = tuple((int(token), float(value)) for token, value in (body.logit_bias or {}).items())
    except ValueError as exc:
        raise APIError(422, "logit_bias keys must be token ids (integers as strings).", param="logit_bias") from exc
    defaults = GenerationParams()
    return GenerationParams(
        temperature=defaults.temperature if body.temperature is None else body.temperature,
        top_p=defaults.top_p if body.top_p is None else body.top_p,
        top_k=defaults.top_k if body.top_k is None else body.top_k,
        min_p=defaults.min_p if body.min_p is None else body.min_p,
        repeat_penalty=API_REPEAT_PENALTY if body.repeat_penalty is None else body.repeat_penalty,
        seed=-1 if body.seed is None else body.seed,
        stop=tuple(s for s in stops if s),
        ignore_eos=body.ignore_eos,
        logit_bias=bias,
        presence_penalty=body.presence_penalty,
        frequency_penalty=body.frequency_penalty,
        grammar=_grammar(body) if isinstance(body, ChatCompletionRequest) else "",
    )


def _grammar(body: ChatCompletionRequest) -> str:
    """response_format as a llama.cpp grammar: any JSON object, or JSON that follows the given schema."""
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return ""
    from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

    if fmt.type == "json_object":
        return JSON_GBNF
    schema = (fmt.json_schema or {}).get("schema")
    if not isinstance(schema, dict):
        raise APIError(400, "response_format json_schema needs json_schema.schema (a JSON Schema object).",
                       param="response_format")
    try:
        return json_schema_to_gbnf(json.dumps(schema))
    except Exception as exc:  # noqa: BLE001 - the converter raises several kinds for schemas it cannot express
        raise APIError(400, f"This JSON Schema cannot be turned into a grammar: {exc}.",
                       param="response_format") from exc


def _messages(body: ChatCompletionRequest) -> list[ChatMessage]:
    out = []
    for i, m in enumerate(body.messages):
        if m.role in ("tool", "function"):
            raise APIError(400, f"messages[{i}]: the role '{m.role}' is not supported (no tool calls).",
                           param=f"messages.{i}.role")
        if isinstance(m.content, list):
            if any(part.type != "text" for part in m.content):
                raise APIError(400, f"messages[{i}]: only text content is supported (no images or audio).",
                               param=f"messages.{i}.content")
            text = "".join(part.text or "" for part in m.content)
        else:
            text = m.content or ""
        out.append(ChatMessage("system" if m.role == "developer" else m.role, text))
    return out


# --- embeddings ------------------------------------------------------------------------------------------------
@router.post("/embeddings")
async def embeddings(request: Request):
    state = _state(request)
    target = None
    try:
        _check_key(request)
        body = parse_body(await request.body(), EmbeddingRequest)
        inputs = [body.input] if isinstance(body.input, str) else body.input
        if not inputs or not all(isinstance(item, str) for item in inputs):
            raise APIError(400, "input must be a string or a list of strings (token arrays are not supported).",
                           param="input")
        target = await run_in_threadpool(jobs.resolve_target, state.core.db, body.model)
        handle = _submit(state, jobs.embedding_job(state.scheduler, target, inputs), "api embeddings")
    except APIError as exc:
        return _refusal(request, exc, target.name if target else None)
    watcher = asyncio.create_task(_stop_on_disconnect(request, handle))
    try:
        result = None
        async for event in handle.events():
            result = event
    finally:
        watcher.cancel()
    if result is None or result["event"] == "error":
        return _refusal(request, _job_error(result, handle), target.name)
    data = [{"object": "embedding", "index": i, "embedding": _encoded(vector, body.encoding_format)}
            for i, vector in enumerate(result["vectors"])]
    usage = {"prompt_tokens": result["prompt_tokens"], "total_tokens": result["prompt_tokens"]}
    _log(request, 200, target.name, usage)
    return {"object": "list", "data": data, "model": target.name, "usage": usage}


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":  # what the official clients ask for by default: little-endian float32
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector


# --- Hearth's extension: feedback on a kept completion ---------------------------------------------------------
@router.post("/hearth/feedback")
async def feedback(request: Request):
    """Rate a completion by its id (+1 / -1), optionally with the reply that was wanted. Works for replies kept
    while "Keep API conversations" is on; rated ones become training data (the Training tab's API source)."""
    state = _state(request)
    try:
        _check_key(request)
        body = parse_body(await request.body(), FeedbackRequest)
        try:
            message_id = await run_in_threadpool(rate_completion, state.core.db, body.id, body.rating,
                                                 body.correction)
        except LookupError as exc:
            raise APIError(404, str(exc), param="id", code="completion_not_found") from exc
    except APIError as exc:
        return _refusal(request, exc)
    _log(request, 200)
    return {"id": body.id, "object": "hearth.feedback", "message_id": message_id, "rating": body.rating,
            "corrected": bool((body.correction or "").strip())}
