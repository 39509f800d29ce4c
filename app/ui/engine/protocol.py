"""The engine's events (JSON objects with an "event" key) turned back into the worker signal each one stands for,
with the dataclasses rebuilt, so the tabs see the same objects as when the model ran in a thread.

`signal_for(event)` answers (signal name, args) or None for an event the window does not use. Request bodies for
the /hearth/v1 routes are built here too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from app.core.chat.turns import PendingReply
from app.core.engine.backend import LoadedModelInfo
from app.core.engine.events import ContextTrimmed, Finished
from app.core.library.registry import ModelRef

# Events of the whole engine (GET /hearth/v1/events); a request's own stream carries the rest.
ENGINE_WIDE = frozenset({"state", "load_started", "model_loaded", "model_failed", "loaded_model_changed",
                         "memory_measured", "request"})


def _build(cls, data: Any):
    """A dataclass from its fields, ignoring keys it does not have (a newer engine may send more)."""
    if data is None or isinstance(data, cls):
        return data
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in dict(data).items() if k in names})


def _fields(event: dict, key: str, cls) -> Any:
    """The dataclass carried under `key`, or spread over the event itself."""
    payload = event.get(key)
    if payload is None:
        payload = {k: v for k, v in event.items() if k != "event"}
    return _build(cls, payload)


def model_ref(data: Any) -> ModelRef | None:
    return _build(ModelRef, data)


def finished(data: dict) -> Finished:
    return _fields(data, "finished", Finished)


def context_trimmed(data: dict) -> ContextTrimmed:
    trimmed = _fields(data, "trimmed", ContextTrimmed)
    return dataclasses.replace(trimmed, dropped_ids=tuple(trimmed.dropped_ids or ()))


def _mid(event: dict) -> int:
    return int(event.get("assistant_id", event.get("message_id", 0)))


def signal_for(event: dict, request_id: int | None = None) -> tuple[str, tuple] | None:
    kind = event.get("event")
    if kind == "state":
        return "state_changed", (str(event["state"]),)
    if kind == "load_started":
        return "load_started", (model_ref(event.get("model")), str(event.get("backend") or "auto"))
    if kind == "model_loaded":
        return "model_loaded", (_fields(event, "info", LoadedModelInfo),)
    if kind == "model_failed":
        return "model_failed", (str(event.get("message", "")),)
    if kind == "loaded_model_changed":
        model_id = event.get("model_id")
        return "loaded_model_changed", (int(model_id) if model_id is not None else None,)
    if kind == "memory_measured":
        return "memory_measured", (int(event["model_id"]),)
    if kind == "request":
        return "request_logged", ({k: v for k, v in event.items() if k != "event"},)
    if kind == "reply_started":
        return "reply_started", (_mid(event),)
    if kind == "tokens":
        return "token_batch_ready", (_mid(event), str(event.get("text", "")))
    if kind == "progress":
        return "generation_progress", (_mid(event), int(event.get("tokens", 0)),
                                       float(event.get("tokens_per_s", 0.0)))
    if kind == "context_trimmed":
        return "context_trimmed", (_mid(event), context_trimmed(event))
    if kind == "reply_finished":
        return "reply_finished", (_mid(event), finished(event))
    if kind == "reply_failed":
        return "reply_failed", (_mid(event), str(event.get("message", "")))
    if kind == "model_released":
        return "model_released", (int(event["model_id"]),)
    if kind == "benchmark_finished":
        return "benchmark_finished", (int(event["model_id"]), event.get("result") or {})
    if kind == "benchmark_failed":
        return "benchmark_failed", (int(event["model_id"]), str(event.get("message", "")))
    if kind == "comparison_finished":
        base = event.get("base", event.get("base_reply", ""))
        adapted = event.get("adapter", event.get("adapter_reply", ""))
        return "comparison_finished", (int(request_id or 0), str(base), str(adapted))
    if kind == "comparison_failed":
        return "comparison_failed", (int(request_id or 0), str(event.get("message", "")))
    return None


def params_dict(params: Any) -> dict:
    if params is None:
        return {}
    if hasattr(params, "to_dict"):
        return params.to_dict()
    return dict(params)


def reply_body(pending: PendingReply) -> dict:
    return {
        "conversation_id": pending.conversation_id,
        "assistant_id": pending.assistant_id,
        "parent_id": pending.parent_id,
        "model_id": pending.model.id,
        "backend": pending.backend,
        "adapter_id": pending.adapter.id if pending.adapter is not None else None,
        "params": params_dict(pending.params),
    }
