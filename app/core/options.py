"""Declared options: each setting is written down once (type, default, range, help) and forms are generated from it."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# What a switch accepts as text (job files, settings): bool("false") would be True.
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


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
        """Convert a typed, stored or file value and clamp a number into range. A value that means nothing for
        this option ("maybe" for a switch, "3.5" for a count) raises ValueError naming the option and what it takes."""
        if self.kind is bool:
            return self._switch(value)
        if self.kind is list:
            return self._lines(value)
        if self.kind is str:
            return self._text(value)
        number = self._number(value)
        if self.minimum is not None and number < self.minimum:
            number = self.kind(self.minimum)
        if self.maximum is not None and number > self.maximum:
            number = self.kind(self.maximum)
        return number

    def _refused(self, value: Any, takes: str) -> ValueError:
        return ValueError(f"option '{self.key}' ({self.label}) takes {takes}, not {value!r}")

    def _switch(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise self._refused(value, f"{', '.join(TRUE_WORDS)} or {', '.join(FALSE_WORDS[:-1])} (or empty)")

    def _number(self, value: Any) -> int | float:
        takes = "a whole number" if self.kind is int else "a number"
        number = value
        if isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                try:
                    number = float(value.strip())
                except ValueError:
                    raise self._refused(value, takes) from None
        # True is an int to Python, but {"epochs": true} in a job file is a mistake, not 1.
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise self._refused(value, takes)
        if isinstance(number, float) and not math.isfinite(number):
            raise self._refused(value, takes)
        if self.kind is int:
            if isinstance(number, float) and not number.is_integer():
                raise self._refused(value, takes)
            return int(number)
        return float(number)

    def _lines(self, value: Any) -> list[str]:
        if isinstance(value, str):
            return [v for v in value.split("\n") if v]
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return list(value)
        raise self._refused(value, "text, one item per line, or a list of text")

    def _text(self, value: Any) -> str:
        if not isinstance(value, str):
            raise self._refused(value, "text")
        if self.choices and value not in {v for v, _ in self.choices}:
            raise self._refused(value, "one of " + ", ".join(v for v, _ in self.choices))
        return value


def resolve(options: Iterable[Option], stored: dict[str, Any] | None, *, strict: bool = False) -> dict[str, Any]:
    """Every option's value: the stored one where present, else its default. A stored value its option refuses
    raises ValueError when `strict` (a job file someone wrote: better told than trained with the wrong setting);
    otherwise it is logged and the default used (a hand-edited settings file must not stop the app starting)."""
    stored = stored or {}
    values: dict[str, Any] = {}
    for o in options:
        if o.key not in stored:
            values[o.key] = o.default
            continue
        try:
            values[o.key] = o.coerce(stored[o.key])
        except ValueError as exc:
            if strict:
                raise
            log.warning("%s; using the default, %r", exc, o.default)
            values[o.key] = o.default
    return values
