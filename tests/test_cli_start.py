"""`hearth` with no command: before Qt starts, it says in one line what stops the window, instead of Qt's abort."""

import os
import subprocess
import sys
import textwrap
import time

import pytest

from app import __version__
from app.ui.start_check import XCB_LIBRARIES, install_hint, start_problem

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check runs on Linux only")
ABSENT = "libhearth-absent.so.7"  # a library no system has: the real dlopen really fails on it


def _run_window_start(home, libraries: str, **env_changes) -> subprocess.CompletedProcess:
    """`hearth` (the window) in a child process whose check looks for `libraries` (a Python expression)."""
    code = textwrap.dedent(f"""
        import sys
        import app.ui.start_check as check
        check.XCB_LIBRARIES = {libraries}
        from app.cli import main
        sys.exit(main([]))
    """)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(HEARTH_HOME=str(home), **env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


@linux_only
def test_a_missing_library_is_named_with_its_package_in_one_line(hearth_home):
    libraries = f"{{**check.XCB_LIBRARIES, {ABSENT!r}: ('libhearth-absent7', 'hearth-absent-libs')}}"
    result = _run_window_start(hearth_home, libraries, DISPLAY=":0")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()  # one line, no Qt abort, no traceback
    assert line.startswith("hearth: the window needs system libraries that are missing (")
    assert ABSENT in line and "install" in line and "sudo " in line
    assert "libhearth-absent7" in line or "hearth-absent-libs" in line  # the package, for this distribution
    assert "libxcb.so.1" not in line  # present here: only what is missing is named
    assert result.stdout == ""


@linux_only
def test_no_display_is_said_in_one_line(hearth_home):
    result = _run_window_start(hearth_home, "{'libc.so.6': ('libc6', 'glibc')}")
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert "no display" in line and "DISPLAY" in line and "hearth --help" in line


def test_install_command_follows_the_distribution():
    missing = ["libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-shape.so.0"]
    assert install_hint(missing, {"debian"}).endswith(
        "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0")
    assert install_hint(missing, {"ubuntu", "debian"}).endswith("sudo apt install libxcb-cursor0 libxcb-icccm4 "
                                                               "libxcb-keysyms1 libxcb-shape0")
    assert install_hint(missing, {"fedora"}).endswith(
        "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms libxcb")
    other = install_hint(missing, {"arch"})
    assert "sudo apt install" in other and "sudo dnf install" in other


def test_only_a_linux_desktop_platform_is_checked():
    nothing_there = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}
    assert start_problem(nothing_there, system="darwin") is None
    assert start_problem(nothing_there, system="win32") is None
    assert start_problem({"QT_QPA_PLATFORM": "offscreen"}, system="linux") is None
    assert "no display" in (start_problem({"QT_QPA_PLATFORM": "wayland"}, system="linux") or "")


def test_the_check_is_cheap_and_names_every_library_qt_needs():
    # The window start pays for it every time; every soname maps to a package on both distributions.
    assert all(deb and fedora for deb, fedora in XCB_LIBRARIES.values())
    assert {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"} <= set(XCB_LIBRARIES)
    start = time.perf_counter()
    start_problem({"DISPLAY": ":0"}, system="linux")
    assert time.perf_counter() - start < 0.5


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-m", "app", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"hearth {__version__}"
    assert version("hearth") == __version__  # the About box and --version show what was installed
