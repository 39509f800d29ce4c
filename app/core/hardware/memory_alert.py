"""The low-memory warning: free memory against what the loaded (or loading) model needs, and a floor the user sets."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.units import format_bytes


@dataclass(frozen=True)
class MemoryNeed:
    """What a model still needs: all of it when about to load, what is not yet resident when loaded."""

    label: str
    bytes: int
    loading: bool


def memory_alert(available: int, need: MemoryNeed | None, floor: int) -> str | None:
    """The warning to show, or None. The model's need comes first because it says what to do about it."""
    if need is not None and need.bytes > 0 and available < need.bytes:
        if need.loading:
            return (f"Only {format_bytes(available)} of memory is free, and {need.label} needs about "
                    f"{format_bytes(need.bytes)} to load. Close other apps, or pick a smaller quantisation or a "
                    "shorter context.")
        return (f"Only {format_bytes(available)} of memory is free, less than the {format_bytes(need.bytes)} "
                f"{need.label} may still need as its context fills. Expect swapping: close other apps or shorten "
                "the context.")
    if floor > 0 and available < floor:
        return (f"Only {format_bytes(available)} of memory is free (the warning level is {format_bytes(floor)}). "
                "The system may start swapping; close other apps or unload the model.")
    return None


def remaining_need(estimate_total: int, measured_peak: int | None) -> int:
    """What a loaded model may still take: its estimate less what it has already made resident."""
    return max(0, estimate_total - (measured_peak or 0))
