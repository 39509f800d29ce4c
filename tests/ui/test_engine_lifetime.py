"""How long the engine lives: closing the window stops the engine it started (unless the user keeps the server
running), a joined engine is left alone, and no way of ending the window or `hearth serve` leaves an orphan."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from app import paths
from app.service import lockfile
from app.ui.app import build_window
from tests.helpers.engines import engines_for_home, kill_all
from tests.helpers.waiting import wait_for


def _env(home) -> dict:
    return dict(os.environ, HEARTH_HOME=str(home), QT_QPA_PLATFORM="offscreen")


def _serve(home) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", "0"], env=_env(home),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _lock_of(pid: int, timeout: float = 60) -> lockfile.EngineLock:
    """engine.json once the engine `pid` (or an engine started by `pid`) has written it."""
    found = []

    def written() -> bool:
        lock = lockfile.read()
        if lock is not None and pid in (lock.pid, lock.started_by) and lockfile.answers(lock):
            found.append(lock)
            return True
        return False

    assert wait_for(written, timeout), "no engine.json from that process"
    return found[0]


@pytest.fixture
def reaper(hearth_home):
    """Whatever a test here starts for its data folder ends with it."""
    yield
    kill_all(engines_for_home(hearth_home))


def test_closing_the_window_stops_the_engine_it_started(hearth_home, reaper):
    """The real start-up path (run_window): the window closes once its engine is up; the engine goes with it."""
    script = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from app.ui import app as ui_app

        build = ui_app.build_window

        def build_and_close(core):
            win, engine = build(core)
            def ready():
                print("ENGINE", engine.pid, flush=True)
                QTimer.singleShot(0, win.close)
            engine.supervisor.ready.connect(ready)
            return win, engine

        ui_app.build_window = build_and_close
        sys.exit(ui_app.run_window())
    """)
    done = subprocess.run([sys.executable, "-c", script], env=_env(hearth_home), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pid = int(done.stdout.split("ENGINE", 1)[1].split()[0])
    assert not lockfile.pid_running(pid), "the engine outlived its window"
    assert not paths.engine_lock_file().exists()


def test_sigkill_of_the_window_ends_its_engine(hearth_home, reaper):
    window = subprocess.Popen([sys.executable, "-m", "app"], env=_env(hearth_home), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        lock = _lock_of(window.pid)
        assert lock.started_by == window.pid
        window.kill()
        window.wait(10)
        assert wait_for(lambda: not lockfile.pid_running(lock.pid), 30), "the engine outlived a killed window"
    finally:
        window.kill()


def test_a_joined_engine_is_left_running_and_ctrl_c_or_sigterm_ends_hearth_serve(qtbot, core, hearth_home, reaper):
    serve = _serve(hearth_home)
    try:
        lock = _lock_of(serve.pid)
        win, engine = build_window(core)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: engine.pid is not None, timeout=30000)
        assert engine.supervisor.joined and engine.pid == serve.pid
        win.close()
        engine.shutdown()
        assert serve.poll() is None, "a window never stops an engine it joined"
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
        assert not paths.engine_lock_file().exists()
    finally:
        serve.kill()

    serve = _serve(hearth_home)
    try:
        _lock_of(serve.pid)
        serve.send_signal(signal.SIGINT)  # Ctrl-C
        assert serve.wait(30) == 0
        assert engines_for_home(hearth_home) == []
    finally:
        serve.kill()


def test_keep_running_leaves_the_engine_serving_after_the_window_closes(qtbot, core, hearth_home, reaper):
    core.settings.set("server_keep_running", True)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: engine.pid is not None, timeout=60000)
    pid = engine.pid
    win.close()
    engine.shutdown()
    assert lockfile.pid_running(pid)
    assert json.loads(paths.engine_lock_file().read_text())["started_by"] is None  # no parent watch: it stays
    os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not lockfile.pid_running(pid), 30)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_the_server_on_the_engine_listens_on_its_port_and_restarts_on_a_new_one(qtbot, core, hearth_home, reaper):
    import socket

    first = _free_port()
    core.settings.set("server_enabled", True)
    core.settings.set("server_port", first)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: engine.pid is not None, timeout=60000)
        assert lockfile.read().port == first and engine.supervisor.serve_problem is None
        old = engine.pid

        taken = socket.create_server(("127.0.0.1", 0))  # the next port is busy: the window still gets its engine
        with taken:
            core.settings.set("server_port", taken.getsockname()[1])
            engine.restart()
            qtbot.waitUntil(lambda: engine.pid not in (None, old), timeout=60000)
            assert not lockfile.pid_running(old)
            assert lockfile.read().port not in (first, taken.getsockname()[1])
            assert "cannot listen" in engine.supervisor.serve_problem
    finally:
        win.close()
        engine.shutdown()


def test_a_joined_engine_that_is_stopped_is_reported_as_stopped_not_crashed(qtbot, core, hearth_home, reaper):
    serve = _serve(hearth_home)
    try:
        _lock_of(serve.pid)
        win, engine = build_window(core)
        qtbot.addWidget(win)
        states: list[str] = []
        engine.worker.state_changed.connect(states.append)
        # Joined, and following its /events (the replayed state has arrived).
        qtbot.waitUntil(lambda: engine.pid == serve.pid and bool(states), timeout=30000)
        with qtbot.waitSignal(engine.engine_crashed, timeout=30000) as stopped:
            serve.send_signal(signal.SIGTERM)
        assert "SIGTERM" in stopped.args[0] and "next request starts a new one" in stopped.args[0]
        assert not win.engine_notice.isHidden()
        win.close()
        engine.shutdown()
    finally:
        serve.kill()


def test_keep_serving_turned_on_after_the_engine_started_keeps_it_after_the_window_exits(hearth_home, reaper):
    """The engine was started with a parent watch; the window asks it to stay when it closes with the setting on."""
    script = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QTimer
        from app.ui import app as ui_app

        build = ui_app.build_window

        def build_and_close(core):
            win, engine = build(core)
            def ready():
                print("ENGINE", engine.pid, flush=True)
                core.settings.set("server_keep_running", True)
                QTimer.singleShot(0, win.close)
            engine.supervisor.ready.connect(ready)
            return win, engine

        ui_app.build_window = build_and_close
        sys.exit(ui_app.run_window())
    """)
    done = subprocess.run([sys.executable, "-c", script], env=_env(hearth_home), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    lock = lockfile.read()
    assert lock is not None and lock.started_by is not None  # it was watching the window
    import httpx
    from httpx_sse import connect_sse

    # A load takes longer than the parent watch's period (1 s): the engine has noticed its window is gone by then.
    with httpx.Client(base_url=lock.base_url, headers=lock.headers, timeout=60) as client, \
            connect_sse(client, "POST", "/hearth/v1/load", json={"model_id": 1}) as events:
        kinds = [json.loads(e.data)["event"] for e in events.iter_sse()]
    assert kinds[-1] == "model_loaded"
    assert lockfile.answers(lock), "the engine stopped with its window although asked to keep serving"
    os.kill(lock.pid, signal.SIGTERM)
    assert wait_for(lambda: not lockfile.pid_running(lock.pid), 30)
