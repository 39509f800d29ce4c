"""The low-memory warning: free memory against what the loaded (or loading) model needs, and a floor the user sets."""

from __future__ import annotations

from dataclasses import dataclass

GiB = 1024**3


def _gb(n: float) -> str:
    return f"{n / GiB:.1f} GB" if n >= GiB else f"{n / 1024**2:.0f} MB"


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
            return (f"Only {_gb(available)} of memory is free, and {need.label} needs about {_gb(need.bytes)} "
                    "to load. Close other apps, or pick a smaller quantisation or a shorter context.")
        return (f"Only {_gb(available)} of memory is free, less than the {_gb(need.bytes)} {need.label} may "
                "still need as its context fills. Expect swapping: close other apps or shorten the context.")
    if floor > 0 and available < floor:
        return (f"Only {_gb(available)} of memory is free (the warning level is {_gb(floor)}). "
                "The system may start swapping; close other apps or unload the model.")
    return None


def remaining_need(estimate_total: int, measured_peak: int | None) -> int:
    """What a loaded model may still take: its estimate less what it has already made resident."""
    return max(0, estimate_total - (measured_peak or 0))
