"""Declared options: each setting is written down once (type, default, range, help) and forms are generated from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    kind: type  # int, float, str (free text, or one of `choices`), bool, or list (a list of strings)
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    decimals: int = 2
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) pairs for a str option with a fixed set of values

    def coerce(self, value: Any) -> Any:
        """Convert and clamp a stored or typed value; anything unusable becomes the default."""
        try:
            if self.kind is list:
                if isinstance(value, str):
                    value = [v for v in value.split("\n") if v]
                return [str(v) for v in value]
            if self.kind is bool:
                return bool(value)
            value = self.kind(value)
            if self.choices and value not in {v for v, _ in self.choices}:
                return self.default
        except (TypeError, ValueError):
            return self.default
        if self.minimum is not None and value < self.minimum:
            value = self.kind(self.minimum)
        if self.maximum is not None and value > self.maximum:
            value = self.kind(self.maximum)
        return value


def resolve(options: Iterable[Option], stored: dict[str, Any] | None) -> dict[str, Any]:
    """Every option's value: the stored one where present and valid, else its default."""
    stored = stored or {}
    return {o.key: o.coerce(stored[o.key]) if o.key in stored else o.default for o in options}
