"""The window's side of the engine's life: join a live `hearth serve` for this data folder or start one, wait
until it answers, notice when it dies, and start a fresh one for the next request.

Everything slow (starting the process, waiting for `engine.json`, the first status call) runs in background
threads; the window shows at once and a request made before the engine is ready waits for it in its own thread.
The last lines the engine wrote on stderr are kept for the crash report.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app.core.child_command import app_command, child_env

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 50
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class EngineUnavailable(Exception):
    """The engine could not be started or reached; the message says so for a person."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    token: str
    pid: int

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def endpoint_of(lock) -> Endpoint:
    return Endpoint(lock.base_url, lock.token, lock.pid)


def pid_alive(pid: int) -> bool:
    from app.service.lockfile import pid_running

    return pid_running(pid)


class EngineSupervisor(QObject):
    """Owns the engine process (or a joined one). Thread-safe: `endpoint()` may be called from any thread."""

    ready = Signal()
    # How it ended ("aborted, SIGABRT"), and the engine's last stderr lines (the "Details…" text).
    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None, keep_running: bool = False,
                 listen: Callable[[], tuple[str, int] | None] | None = None):
        super().__init__(parent)
        self.keep_running = keep_running  # start without a parent watch: the engine outlives the window
        # Where the engine should listen when it also serves other apps (the Server settings), else None: a free
        # loopback port that only this window knows.
        self.listen = listen or (lambda: None)
        self.serve_problem: str | None = None  # why the engine could not listen where the settings say
        self._lock = threading.Condition()
        self._endpoint: Endpoint | None = None
        self._process: subprocess.Popen | None = None
        self._starting = False
        self._error: str | None = None
        self._closing = False
        self.joined = False
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.generation = 0  # counts engines: a request knows whether the one it used is the one that died
        # Called in the starting thread once an engine answers, before any waiting request is let through.
        self.on_ready: list[Callable[[Endpoint, int], None]] = []

    # -- starting ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Join or start an engine in the background (returns at once)."""
        with self._lock:
            if self._endpoint is not None or self._starting or self._closing:
                return
            self._starting, self._error = True, None
        threading.Thread(target=self._bring_up, name="engine-start", daemon=True).start()

    def endpoint(self, timeout: float = START_TIMEOUT_S) -> Endpoint:
        """The live engine's address, starting one if none is running; waits for it. Raises EngineUnavailable."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._endpoint is None:
                if self._error is not None and not self._starting:
                    raise EngineUnavailable(self._error)
                if self._closing:
                    raise EngineUnavailable("The window is closing.")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise EngineUnavailable("The engine did not start in time.")
                self._lock.wait(min(left, 0.5))
            return self._endpoint

    @property
    def pid(self) -> int | None:
        ep = self._endpoint
        return ep.pid if ep else None

    def current(self) -> Endpoint | None:
        return self._endpoint

    def _bring_up(self) -> None:
        try:
            found = self._join() or self._spawn()
        except EngineUnavailable as exc:
            with self._lock:
                self._starting, self._error = False, str(exc)
                self._lock.notify_all()
            return
        except Exception as exc:  # noqa: BLE001 - a start that fails must never take the window down
            log.exception("engine start failed")
            with self._lock:
                self._starting, self._error = False, f"The engine could not be started ({exc})."
                self._lock.notify_all()
            return
        with self._lock:
            self.generation += 1
            generation = self.generation
        for callback in self.on_ready:
            callback(found, generation)
        with self._lock:
            self._endpoint, self._starting = found, False
            self._lock.notify_all()
        self.ready.emit()

    def _join(self) -> Endpoint | None:
        from app.service import lockfile

        lock = lockfile.live_engine()
        if lock is None:
            return None
        ep = endpoint_of(lock)
        self.joined = True
        log.info("joined the engine already serving this data folder (pid %s)", ep.pid)
        threading.Thread(target=self._watch_joined, args=(ep.pid,), name="engine-watch", daemon=True).start()
        return ep

    def _spawn(self) -> Endpoint:
        self.serve_problem = None
        listen = self.listen()
        if listen is None:
            return self._spawn_on("127.0.0.1", 0)
        try:
            return self._spawn_on(*listen)
        except EngineUnavailable as exc:  # e.g. the port is taken: the window still gets its engine
            self.serve_problem = str(exc)
            log.warning("the engine could not serve on %s:%s (%s); it listens on a free loopback port", *listen, exc)
            return self._spawn_on("127.0.0.1", 0)

    def _spawn_on(self, host: str, port: int) -> Endpoint:
        from app.service import lockfile

        self.joined = False
        self.stderr_tail.clear()
        args = ["serve", "--host", host, "--port", str(port), "--lock"]
        if not self.keep_running:
            args += ["--parent-pid", str(os.getpid())]
        with self._lock:  # a window closing meanwhile either sees this process (and stops it) or refuses it
            if self._closing:
                raise EngineUnavailable("The window is closing.")
            proc = subprocess.Popen(app_command(*args), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, env=child_env(), text=True, encoding="utf-8",
                                    errors="replace", start_new_session=True)
            self._process = proc
        threading.Thread(target=self._read_stderr, args=(proc,), name="engine-stderr", daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._closing:
                raise EngineUnavailable("The window is closing.")
            if proc.poll() is not None:
                time.sleep(0.1)  # let the stderr reader take its last words
                last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
                raise EngineUnavailable(f"The engine stopped while starting ({exit_description(proc.returncode)})"
                                        + (f": {last.strip()}" if last else "."))
            lock = lockfile.read()
            if lock is not None and lock.pid == proc.pid and lockfile.answers(lock):
                ep = endpoint_of(lock)
                threading.Thread(target=self._watch_child, args=(proc,), name="engine-watch", daemon=True).start()
                return ep
            time.sleep(0.05)
        proc.kill()
        raise EngineUnavailable("The engine did not start within 90 seconds.")

    def _read_stderr(self, proc: subprocess.Popen) -> None:
        for line in proc.stderr:
            self.stderr_tail.append(line.rstrip("\n"))

    # -- dying ------------------------------------------------------------------------------------------------
    def _watch_child(self, proc: subprocess.Popen) -> None:
        code = proc.wait()
        time.sleep(0.05)  # let the stderr reader take the last lines
        self._gone(proc.pid, exit_description(code))

    def _watch_joined(self, pid: int) -> None:
        while pid_alive(pid):
            time.sleep(0.5)
            if self._closing:
                return
        self._gone(pid, "stopped outside this window")

    def _gone(self, pid: int, how: str) -> None:
        with self._lock:
            if self._endpoint is None or self._endpoint.pid != pid:
                return
            self._endpoint = None
            closing = self._closing
            self._lock.notify_all()
        if closing:
            return
        self.crashed.emit(how, "\n".join(self.stderr_tail) or "(the engine wrote nothing on stderr)")

    def dead(self, generation: int) -> bool:
        """Whether the engine of that generation is gone (a request whose stream broke asks this)."""
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            with self._lock:
                if self.generation != generation or self._endpoint is None:
                    return True
                ep = self._endpoint
            if not pid_alive(ep.pid):
                return True
            time.sleep(0.05)
        return False

    def _keep_serving(self) -> None:
        """An engine started with a parent watch stays up after this window ends (the setting was turned on later)."""
        from app.ui.engine.client import call

        endpoint = self._endpoint
        if endpoint is None or self.keep_running:  # started without a parent watch: nothing to lift
            return
        try:
            call(endpoint, "POST", "/hearth/v1/keep-serving", timeout=5.0)
        except Exception as exc:  # noqa: BLE001 - then it ends with this window, as it was started to
            log.warning("the engine could not be asked to keep serving: %s", exc)

    def restart(self) -> None:
        """Stop the engine this window started and start it again (it then listens where the settings now say).
        In the background; requests made meanwhile wait for the new engine. A joined engine is not touched."""
        if self.joined or self._closing:
            return

        def again() -> None:
            with self._lock:
                proc, self._endpoint = self._process, None  # forgotten first: its exit is not a crash
                if self._starting:
                    return
                self._starting, self._error = True, None
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            self._bring_up()

        threading.Thread(target=again, name="engine-restart", daemon=True).start()

    # -- stopping ---------------------------------------------------------------------------------------------
    def shutdown(self, stop_owned: bool = True, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the engine this window started (SIGTERM: its running reply is saved as stopped), unless asked to
        keep it; a joined engine is left alone. Returns once the engine has exited."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
            proc = self._process
        if proc is None or self.joined or proc.poll() is not None:
            return
        if not stop_owned:
            self._keep_serving()
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            log.warning("the engine did not stop within %.0f s; killing it", timeout_s)
            proc.kill()
            proc.wait(5)


def exit_description(code: int) -> str:
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        meaning = {"SIGKILL": "killed, maybe out of memory", "SIGABRT": "aborted", "SIGSEGV": "crashed"}.get(name)
        return f"{name}: {meaning}" if meaning else name
    return f"exit code {code}"
