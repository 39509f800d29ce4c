"""What a backend yields while it generates: text pieces, then exactly one final event."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ContextTrimmed:
    """The prompt did not fit, so these oldest messages were left out (the system prompt never is)."""

    dropped_ids: tuple[int | None, ...]
    prompt_tokens: int
    n_ctx: int


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop" (end of turn or stop string), "length", "stopped" (by the user), "context"
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float  # request to first token
    tokens_per_s: float  # decode rate after the first token
    elapsed_s: float
    text: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Failed:
    message: str  # for a person: what went wrong and what to do


StreamEvent = TextDelta | ContextTrimmed | Finished | Failed
