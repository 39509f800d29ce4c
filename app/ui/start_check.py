"""Before the window starts on Linux: are the system libraries of Qt's X11 (xcb) plugin there, and is there a display?

Without them Qt aborts with a long message that names one library and no package. This says which packages are
missing and how to install them, in one line, and `hearth` exits instead of crashing. Its sub-commands never need
a display. The check must stay cheap (it runs on every window start): no Qt, no library search, just dlopen on
the exact names, which Qt would load a moment later anyway.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

# What PySide6's libqxcb.so, libQt6XcbQpa.so.6 and libQt6Gui.so.6 need from the system (their NEEDED entries, read
# with readelf -d on PySide6 6.11), less what the wheel bundles (ICU) and what every Linux has (libc, libstdc++,
# libz). soname -> (Debian/Ubuntu package, Fedora package); the Debian names checked with dpkg -S on Debian 12.
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will pick its X11 plugin: QT_QPA_PLATFORM says xcb, or is unset outside a Wayland session
    (in one, Qt 6 tries Wayland first)."""
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen:
        return chosen.split(";")[0].split(":")[0] == "xcb"
    return not (env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"))


def missing_libraries(sonames) -> list[str]:
    missing = []
    for soname in sonames:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def _distribution() -> set[str]:
    """The distribution and its families from /etc/os-release ("debian", "ubuntu", "fedora", "rhel", …)."""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        return set()
    words = f"{fields.get('ID', '')} {fields.get('ID_LIKE', '')}".replace('"', "").split()
    return set(words)


def install_hint(missing: list[str], family: set[str]) -> str:
    debian = " ".join(dict.fromkeys(XCB_LIBRARIES[s][0] for s in missing))
    fedora = " ".join(dict.fromkeys(XCB_LIBRARIES[s][1] for s in missing))
    if family & {"debian", "ubuntu"}:
        return f"install them with: sudo apt install {debian}"
    if family & {"fedora", "rhel", "centos"}:
        return f"install them with: sudo dnf install {fedora}"
    return f"install the packages that provide them (Debian/Ubuntu: sudo apt install {debian}; " \
           f"Fedora: sudo dnf install {fedora})"


def start_problem(env: Mapping[str, str] | None = None, system: str | None = None) -> str | None:
    """One line saying why the window cannot start here, or None when nothing is known to stop it."""
    env = os.environ if env is None else env
    if not (system or sys.platform).startswith("linux"):
        return None  # macOS and Windows wheels carry all Qt needs
    chosen = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if chosen not in ("", "xcb", "wayland"):
        return None  # offscreen, vnc, eglfs…: the user chose a platform that needs no desktop
    if uses_xcb(env):
        missing = missing_libraries(XCB_LIBRARIES)
        if missing:
            return (f"hearth: the window needs system libraries that are missing ({', '.join(missing)}); "
                    f"{install_hint(missing, _distribution())}")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("hearth: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); start it "
                "from a desktop session, or use the commands in `hearth --help`")
    return None
