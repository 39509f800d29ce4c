"""What the OpenAI-compatible routes run on the model owner thread: load on demand, generate, embed.

Each request is one scheduler job, queued FIFO with the window's. A job reports with small dict events:
`started` (the prompt fits; its id and token count), `delta` (text), then `finished` (the backend's figures), or a
single `error` (an APIError's status and fields) when it cannot run. The route waits for the first event before it
answers, so an unknown adapter or a prompt that does not fit gets its own status even on a streaming request.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from app.core.chat.api_exchanges import new_completion_id, start_exchange
from app.core.chat.reply import ReplyWriter
from app.core.engine.backend import AdapterRef, Backend, ChatMessage, ModelLoadError
from app.core.engine.events import Failed, Finished, StreamEvent, TextDelta
from app.core.engine.params import GenerationParams
from app.core.library.registry import ModelRef, find_model, list_models
from app.core.storage.db import Database
from app.core.storage.models import MessageStatus
from app.core.training.adapters import find_adapter, list_adapters, ref_of
from app.service.openai_schema import APIError
from app.service.scheduler import JobContext

log = logging.getLogger(__name__)

ADAPTER_SEPARATOR = "@"  # model: "NAME@ADAPTER" answers through a trained adapter on NAME
# The longest input an embedding takes, in tokens. An input is evaluated in one batch, and llama.cpp's working
# buffers grow with the batch, so the second context is kept to this rather than the chat context's full length.
EMBEDDING_CONTEXT = 2048


@dataclass(frozen=True)
class Target:
    """The model (and adapter) a request's `model` names."""

    model: ModelRef
    adapter: AdapterRef | None = None

    @property
    def name(self) -> str:
        return f"{self.model.name}{ADAPTER_SEPARATOR}{self.adapter.name}" if self.adapter else self.model.name


def resolve_target(db: Database, requested: str) -> Target:
    """`model` as a library model's name or id, optionally `@ADAPTER` (name or id). 404 when unknown."""
    requested = requested.strip()
    with db.session() as session:
        model = find_model(session, requested)
        if model is not None:
            return Target(model)
        base, sep, adapter_name = requested.rpartition(ADAPTER_SEPARATOR)
        model = find_model(session, base) if sep else None
        if model is None:
            known = ", ".join(m.name for m in list_models(session)) or "none"
            raise APIError(404, f"The model '{requested}' does not exist. Models in this library: {known} "
                                "(see GET /v1/models).", param="model", code="model_not_found")
        row = find_adapter(session, adapter_name)
        if row is None or (row.base_model_id is not None and row.base_model_id != model.id):
            raise APIError(404, f"The adapter '{adapter_name}' does not exist for {model.name} "
                                "(see GET /v1/models for NAME@ADAPTER forms).", param="model", code="model_not_found")
        return Target(model, ref_of(row))


def list_targets(db: Database, loaded_id: int | None) -> list[dict]:
    """GET /v1/models: every library model by name (its id in `hearth.id`), then each adapter as NAME@ADAPTER."""
    with db.session() as session:
        models = list_models(session)
        adapters = list_adapters(session)
    data = []
    for m in models:
        data.append(_model_entry(m.name, m, loaded_id))
        for a in adapters:
            if a.base_model_id == m.id:
                data.append(_model_entry(f"{m.name}{ADAPTER_SEPARATOR}{a.name}", m, loaded_id, adapter_id=a.id))
    return data


def _model_entry(name: str, model: ModelRef, loaded_id: int | None, adapter_id: int | None = None) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "hearth",
            "hearth": {"model_id": model.id, "adapter_id": adapter_id, "format": model.format,
                       "loaded": model.id == loaded_id}}


def ensure_loaded(ctx: JobContext, target: Target, jobs) -> Backend:
    """The target's model loaded (JIT, as LM Studio does: whatever was loaded makes way) with its adapter on.
    A model already loaded stays as it is (whichever backend the window chose for it)."""
    host, model = ctx.host, target.model
    if not host.is_loaded(model.id):
        failed: dict = {}

        def keep_failure(event: dict) -> None:  # the load's own events go to every window through the hub
            if event.get("event") == "model_failed":
                failed.update(event)

        quiet = JobContext(ctx.host, ctx.db, ctx.stop_event, keep_failure)
        if jobs.load(quiet, model, "auto", echo=True) is None:
            message = failed.get("message") or f"{model.name} could not be loaded."
            raise APIError(500, message, type="server_error", param="model", code="model_load_failed")
    try:
        host.backend.set_adapter(target.adapter)
    except ModelLoadError as exc:
        raise APIError(400, str(exc), param="model", code="adapter_failed") from exc
    return host.backend


def check_fits(prompt_tokens: int, max_tokens: int | None, n_ctx: int) -> int:
    """The reply's token budget; 400 with the numbers when the prompt (plus an explicit max_tokens) does not fit.
    Never a silent cut: nothing of the prompt is dropped."""
    if prompt_tokens >= n_ctx:
        raise APIError(400, f"The prompt needs {prompt_tokens} tokens but the model's context holds {n_ctx} "
                            "(and the reply needs at least one more). Shorten the messages.",
                       param="messages", code="context_length_exceeded")
    if max_tokens is not None and prompt_tokens + max_tokens > n_ctx:
        raise APIError(400, f"The prompt needs {prompt_tokens} tokens and max_tokens asks for {max_tokens} more, "
                            f"{prompt_tokens + max_tokens} in all, but the model's context holds {n_ctx}. Lower "
                            "max_tokens or shorten the messages.", param="max_tokens", code="context_length_exceeded")
    return max_tokens if max_tokens is not None else n_ctx - prompt_tokens


@dataclass(frozen=True)
class GenerationRequest:
    target: Target
    params: GenerationParams  # max_tokens still unset when the request left it to the context
    max_tokens: int | None
    messages: list[ChatMessage] | None = None  # a chat completion
    prompt: str | None = None  # a raw completion
    keep: bool = False  # "Keep API conversations" (chat completions only)


def generation_job(db: Database, request: GenerationRequest, jobs):
    """The job for one chat completion or completion; `jobs` is the engine's ModelJobs (loads, state)."""

    def run(ctx: JobContext) -> None:
        try:
            backend = ensure_loaded(ctx, request.target, jobs)
            tokens = _prompt_tokens(backend, request)
            budget = check_fits(len(tokens), request.max_tokens, backend.info.n_ctx)
        except APIError as exc:
            ctx.emit(_error_event(exc))
            return
        params = GenerationParams(**{**request.params.__dict__, "max_tokens": budget})
        reply_id, completion_id = None, None
        if request.keep and request.messages is not None:
            reply_id, completion_id = start_exchange(db, request.target.model, request.target.adapter,
                                                     request.messages, params)
        ctx.emit({"event": "started", "id": completion_id or new_completion_id(), "prompt_tokens": len(tokens),
                  "model": request.target.name})
        if hasattr(backend, "stream_tokens"):
            events = backend.stream_tokens(tokens, params, ctx.should_stop)
        else:  # transformers: the chat path only (raw prompts were refused in _prompt_tokens)
            events = backend.stream(request.messages, params, ctx.should_stop)
        jobs.set_state("generating")
        try:
            _relay(ctx, events, ReplyWriter(db, reply_id) if reply_id is not None else None, backend.info.backend)
        finally:
            jobs.set_state("idle")

    return run


def _prompt_tokens(backend: Backend, request: GenerationRequest) -> list[int]:
    what = request.params.needs_llama_cpp
    if what and backend.info.backend != "llama.cpp":
        raise APIError(400, f"{request.target.model.name} runs on {backend.info.backend}, which cannot apply "
                            f"{what}; use a GGUF model.", code="unsupported_parameter")
    if request.messages is None:
        if not hasattr(backend, "text_tokens"):
            raise APIError(400, f"{request.target.model.name} runs on {backend.info.backend}; raw completions "
                                "need a GGUF model (llama.cpp). Use /v1/chat/completions.", param="model")
        return backend.text_tokens(request.prompt or "")
    try:
        return backend.prompt_tokens(request.messages)
    except ValueError as exc:  # the model's chat template refused these messages
        raise APIError(400, f"The model's chat template cannot format these messages: {exc}",
                       param="messages") from exc


def _relay(ctx: JobContext, events: Iterator[StreamEvent], writer: ReplyWriter | None, backend: str) -> None:
    ended = False
    try:
        if writer is not None:
            writer.save(backend=backend)
        for event in events:
            if isinstance(event, TextDelta):
                ctx.emit({"event": "delta", "text": event.text})
                if writer is not None:
                    writer.add(event.text)
            elif isinstance(event, Finished):
                ended = True
                if writer is not None:
                    writer.save(status=MessageStatus.COMPLETE, finish_reason=event.finish_reason,
                                prompt_tokens=event.prompt_tokens, completion_tokens=event.completion_tokens,
                                ttft_ms=round(event.ttft_s * 1000, 1), tokens_per_s=round(event.tokens_per_s, 2),
                                owner_pid=None)
                ctx.emit({"event": "finished", **asdict(event)})
            elif isinstance(event, Failed):
                ended = True
                if writer is not None:
                    writer.save(status=MessageStatus.ERROR, error=event.message, finish_reason="error",
                                owner_pid=None)
                ctx.emit(_error_event(APIError(500, event.message, type="server_error")))
    finally:
        if writer is not None and not ended:
            writer.save(status=MessageStatus.INTERRUPTED, finish_reason="interrupted", owner_pid=None)


def _error_event(exc: APIError) -> dict:
    return {"event": "error", "status": exc.status, "message": exc.message, "type": exc.type, "param": exc.param,
            "code": exc.code}


# --- embeddings ----------------------------------------------------------------------------------------------
class Embedder:
    """A separate llama.cpp context opened with embedding=True on the same GGUF file (a generating context cannot
    return embeddings). One at a time, kept for the next request, touched only on the owner thread."""

    def __init__(self) -> None:
        self.path: str | None = None
        self.llm = None

    def embed(self, model: ModelRef, inputs: list[str], n_ctx: int, n_threads: int) -> tuple[list[list[float]], int]:
        if model.format != "gguf":
            raise APIError(400, f"{model.name} is a Hugging Face folder; embeddings need a GGUF model.",
                           param="model")
        llm = self._open(model, n_ctx, n_threads)
        counts = [len(llm.tokenize(text.encode("utf-8"))) for text in inputs]
        limit = llm.n_ctx()
        for i, count in enumerate(counts):
            if count > limit:
                raise APIError(400, f"Input {i} needs {count} tokens but the embedding context holds {limit}. "
                                    "Split it into shorter pieces.", param="input", code="context_length_exceeded")
            if count == 0:
                raise APIError(400, f"Input {i} is empty.", param="input")
        vectors = [llm.embed(text, normalize=True, truncate=False) for text in inputs]
        return vectors, sum(counts)

    def _open(self, model: ModelRef, n_ctx: int, n_threads: int):
        if self.llm is not None and self.path == model.path:
            return self.llm
        self.close()
        import llama_cpp

        from app.core.engine.cpu_layouts import open_llama
        from app.core.engine.gguf_check import GGUFError, inspect_gguf

        try:
            info = inspect_gguf(model.path)
        except GGUFError as exc:
            raise APIError(500, f"{model.name}: {exc}", type="server_error", param="model") from exc
        size = min(n_ctx, info.context_length or n_ctx, EMBEDDING_CONTEXT)
        # A model made for embeddings says how to pool; a chat model does not, and then the mean is used.
        declared = info.metadata.get(f"{info.architecture}.pooling_type")
        pooling = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED if declared else llama_cpp.LLAMA_POOLING_TYPE_MEAN
        try:
            self.llm = open_llama(model_path=model.path, embedding=True, n_ctx=size, n_batch=size, n_ubatch=size,
                                  n_threads=n_threads, n_threads_batch=n_threads, pooling_type=pooling,
                                  verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:
            raise APIError(500, f"{model.name}: llama.cpp could not open it for embeddings ({exc}).",
                           type="server_error", param="model") from exc
        self.path = model.path
        return self.llm

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
        self.llm, self.path = None, None


_embedders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # one per model host (per engine)


def close_embeddings(host, path: str | None = None) -> None:
    """Free the embedding context beside `host` (only if it is on `path`, when given). Call it on the owner
    thread, e.g. where a model is released before its files are deleted: the context keeps its file open."""
    embedder = _embedders.get(host)
    if embedder is not None and (path is None or embedder.path == path):
        embedder.close()


def embedding_job(scheduler, target: Target, inputs: list[str]):
    embedder = _embedders.setdefault(scheduler.host, Embedder())

    def run(ctx: JobContext) -> None:
        try:
            vectors, tokens = embedder.embed(target.model, inputs, ctx.host.n_ctx, ctx.host.n_threads)
        except APIError as exc:
            ctx.emit(_error_event(exc))
            return
        ctx.emit({"event": "embedded", "vectors": vectors, "prompt_tokens": tokens})

    return run
