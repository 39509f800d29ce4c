"""Generation parameters, declared once; the chat settings panel is generated from GENERATION_OPTIONS."""

from __future__ import annotations

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

    @classmethod
    def from_dict(cls, stored: dict[str, Any] | None) -> GenerationParams:
        values = resolve(GENERATION_OPTIONS, stored)
        values["stop"] = tuple(values["stop"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data
