"""Fitting a conversation into the context window: drop the oldest turns, keep the system prompt, say what went."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.core.engine.backend import ChatMessage


class PromptTooLong(ValueError):
    """Even the newest message alone does not fit."""


@dataclass(frozen=True)
class Budget:
    messages: tuple[ChatMessage, ...]
    dropped: tuple[ChatMessage, ...]
    prompt_tokens: int
    limit: int


def fit(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[Sequence[ChatMessage]], int],
    n_ctx: int,
    reply_tokens: int,
) -> Budget:
    """Keep the system prompt and the newest messages that fit in n_ctx minus the reply budget.

    Whole turns go (a user message with the replies that follow it), oldest first, so the model never sees
    a reply without the question it answered.
    """
    # The reply may use at most half the window, so a huge max_tokens cannot starve the prompt to nothing.
    limit = n_ctx - min(reply_tokens, n_ctx // 2)
    system = [m for m in messages if m.role == "system"][:1]
    rest = [m for m in messages if m.role != "system"]
    dropped: list[ChatMessage] = []
    while True:
        kept = system + rest
        tokens = count_tokens(kept)
        if tokens <= limit:
            return Budget(tuple(kept), tuple(dropped), tokens, limit)
        if len(rest) <= 1:
            raise PromptTooLong(
                f"The message is too long for this model's context: {tokens} tokens, but only {limit} fit "
                f"(context {n_ctx} minus {min(reply_tokens, n_ctx // 2)} for the reply). Shorten it, lower "
                "'Max reply tokens', or raise the context length in Settings."
            )
        turn_end = 1
        while turn_end < len(rest) - 1 and rest[turn_end].role != "user":
            turn_end += 1
        dropped.extend(rest[:turn_end])
        rest = rest[turn_end:]
