"""The one way Hearth writes a size: decimal SI units (1 KB = 1000 bytes, 1 GB = 10^9 bytes).

Decimal is what the Hugging Face Hub, macOS Finder and drive makers print, so a file reads the same on the Hub page,
in the library and on the disk it lands on. Memory, disk, download and estimate figures all go through here.
"""

from __future__ import annotations

KB, MB, GB, TB = 10**3, 10**6, 10**9, 10**12
_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def format_bytes(n: float) -> str:
    """Like "0 B", "512 KB", "98 MB", "4.7 GB", "1.2 TB": one decimal below ten of a unit, whole numbers above."""
    sign = "-" if n < 0 else ""
    value = abs(float(n))
    for unit in _UNITS:
        shown = f"{value:.0f}" if unit == "B" or value >= 9.95 else f"{value:.1f}"
        if float(shown) < 1000:  # 999.7 KB would round to "1000 KB": the next unit writes it as 1.0 MB
            break
        value /= 1000
    return f"{sign}{shown} {unit}"
