"""Generation parameters, declared once; the chat settings panel is generated from GENERATION_OPTIONS."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from app.core.options import Option, resolve

GENERATION_OPTIONS: tuple[Option, ...] = (
    Option("temperature", "Temperature", float, 0.7, "Randomness. 0 always picks the most likely word.", 0.0, 2.0, 0.05),
    Option("top_p", "Top P", float, 0.95, "Sample only from the most likely words that add up to this probability.", 0.0, 1.0, 0.01),
    Option("top_k", "Top K", int, 40, "Sample only from this many most likely words (0 = no limit).", 0, 500, 1),
    Option("min_p", "Min P", float, 0.05, "Drop words less likely than this fraction of the most likely one.", 0.0, 1.0, 0.01),
    Option("repeat_penalty", "Repeat penalty", float, 1.1, "Above 1 discourages repeating recent words.", 0.5, 2.0, 0.05),
    Option("max_tokens", "Max reply tokens", int, 512, "The longest reply, in tokens. Also reserved from the context.", 16, 32768, 16),
    Option("seed", "Seed", int, -1, "Fix it to get the same reply again; -1 picks a new one each time.", -1, 2**31 - 1, 1),
    Option("stop", "Stop strings", list, [], "One per line: the reply ends when any of them appears.", decimals=0),
)


@dataclass(frozen=True)
class GenerationParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1
    stop: tuple[str, ...] = field(default_factory=tuple)
    # Not in the settings panel: for scripts, the benchmarks and the tests, which must force a reply's shape
    # instead of hoping for it. Both backends honour them the same way (as llama.cpp's server and OpenAI do).
    ignore_eos: bool = False  # end-of-turn tokens are never sampled, so the reply runs to max_tokens
    logit_bias: tuple[tuple[int, float], ...] = ()  # (token id, bias added to its logit) pairs
    # For the OpenAI-compatible API (llama.cpp only; the transformers backend refuses them rather than ignore
    # them): OpenAI's penalties, and a GBNF grammar the reply must follow (response_format json_object /
    # json_schema is turned into one). "" means no grammar.
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    grammar: str = ""

    @classmethod
    def from_dict(cls, stored: dict[str, Any] | None) -> GenerationParams:
        stored = stored or {}
        values = resolve(GENERATION_OPTIONS, stored)
        values["stop"] = tuple(values["stop"])
        values["ignore_eos"] = stored.get("ignore_eos") is True
        values["logit_bias"] = _bias_pairs(stored.get("logit_bias"))
        for key in ("presence_penalty", "frequency_penalty"):
            value = stored.get(key)
            values[key] = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0
        values["grammar"] = stored.get("grammar") if isinstance(stored.get("grammar"), str) else ""
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        data["logit_bias"] = [list(pair) for pair in self.logit_bias]
        return data

    def biases(self, end_tokens: Iterable[int], n_vocab: int) -> dict[int, float]:
        """Every logit change to make before sampling: the explicit biases (ids outside the vocabulary are
        ignored), and end-of-turn banned if asked."""
        bias = {int(token): float(value) for token, value in self.logit_bias if 0 <= int(token) < n_vocab}
        if self.ignore_eos:
            bias.update({int(token): -math.inf for token in end_tokens})
        return bias

    @property
    def needs_llama_cpp(self) -> str | None:
        """What in these params only llama.cpp can do (None: nothing), for a clear refusal elsewhere."""
        if self.grammar:
            return "a grammar (response_format)"
        if self.presence_penalty or self.frequency_penalty:
            return "presence and frequency penalties"
        return None


def _bias_pairs(stored: Any) -> tuple[tuple[int, float], ...]:
    """Stored as a list of pairs or as an OpenAI-style {"token id": bias} object; anything else is ignored."""
    if isinstance(stored, dict):
        stored = stored.items()
    try:
        return tuple((int(token), float(value)) for token, value in stored or ())
    except (TypeError, ValueError):
        return ()
