"""What a backend yields while it generates: text pieces, then exactly one final event."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextDelta:
    text: str
    tokens: int = 0  # completion tokens so far, counting this piece
    decode_s: float = 0.0  # seconds since the first token, for a live decode rate

    @property
    def tokens_per_s(self) -> float:
        return (self.tokens - 1) / self.decode_s if self.tokens > 1 and self.decode_s > 0 else 0.0


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


def finished(reason: str, prompt_tokens: int, completion: int, started: float, first_at: float | None,
             ended: float, pieces: list[str]) -> Finished:
    """The Finished event both backends end with: decode rate counts from the first token, as users perceive it."""
    first_at = first_at or ended
    decode_s = ended - first_at
    return Finished(
        finish_reason=reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion,
        ttft_s=first_at - started,
        tokens_per_s=(completion - 1) / decode_s if completion > 1 and decode_s > 0 else 0.0,
        elapsed_s=ended - started,
        text="".join(pieces),
    )
