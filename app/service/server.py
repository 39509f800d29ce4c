"""The engine's HTTP server: the app factory, and running it with uvicorn until it is asked to stop.

Asked to stop means SIGTERM, SIGINT (Ctrl-C), or the end of the process given as `parent_pid` (the window that
started the engine; psutil watches it, so even a SIGKILL of the window ends the engine). Shutting down stops the
running job (a reply is saved as stopped) and skips the queued ones, waits for the model owner to finish, frees
the model, removes engine.json and returns 0. The database is closed only once the owner has stopped: it is never
closed under a running job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app import __version__
from app.core.training.parent_watch import watch_parent
from app.service import lockfile
from app.service.hearth_routes import STOPPING, router as hearth_router
from app.service.openai_api import router as openai_router
from app.service.state import EngineState
from app.service.lifetime_routes import keeps_serving
from app.service.lifetime_routes import router as lifetime_router
from app.service.vocab_routes import router as vocab_router

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
GRACEFUL_S = 5.0  # how long open streams get to end once the engine is asked to stop
OWNER_STOP_S = 30.0  # how long the model owner gets to finish its job (a load cannot be interrupted)
FORCED_STOP_S = 3.0  # the same after a second Ctrl-C: the person wants out now


def create_app(state: EngineState, cors_origins: Sequence[str] = ()) -> FastAPI:
    """The engine's ASGI app: the window's routes, the OpenAI routes, CORS only for the origins given."""
    app = FastAPI(title="Hearth engine", version=__version__, docs_url=None, redoc_url=None)
    app.state.engine = state
    app.include_router(hearth_router)
    app.include_router(vocab_router)  # the window's dataset preview tokenizes here (its process has no llama.cpp)
    app.include_router(lifetime_router)
    app.include_router(openai_router)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["*"],
                           allow_headers=["*"])
    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 lets the system pick a free one (`sock.getsockname()[1]` says which)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Made with its protocol named (create_server leaves it 0): asyncio turns Nagle off only on sockets that say
    # they are TCP, and with Nagle on, each small SSE event on a kept-alive connection waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name != "nt":  # a port just freed by a previous engine can be taken again at once
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


class ShutdownRequest:
    """Asks the server to stop from anywhere (a signal handler, the parent watch thread), also before it runs."""

    def __init__(self, state: EngineState):
        self.state = state
        self.reason: str | None = None
        self.server: uvicorn.Server | None = None

    def __call__(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            log.info("engine stopping: %s", reason)
        if self.server is not None:
            self.server.should_exit = True
        # From a thread of its own: a signal handler may interrupt the main thread inside the scheduler's lock.
        threading.Thread(target=self._stop_jobs, args=(reason,), name="stop-jobs", daemon=True).start()

    def _stop_jobs(self, reason: str) -> None:
        self.state.hub.publish({"event": STOPPING, "reason": reason})
        self.state.scheduler.stop_all()


class _EngineServer(uvicorn.Server):
    """uvicorn's server, with two changes: it reports when it listens, and a signal ends it with a clean exit
    (uvicorn re-raises a caught SIGTERM after its shutdown, which would end the process with that signal)."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None], request: ShutdownRequest):
        super().__init__(config)
        self.on_ready, self.request = on_ready, request

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self.on_ready()

    def handle_exit(self, sig: int, frame) -> None:
        super().handle_exit(sig, frame)
        self.request(signal.Signals(sig).name)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM) + ((signal.SIGBREAK,) if hasattr(signal, "SIGBREAK") else ())
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_server(state: EngineState, sock: socket.socket, *, cors_origins: Sequence[str] = (),
               parent_pid: int | None = None, write_lock: bool = True,
               on_ready: Callable[[str], None] | None = None, request: ShutdownRequest | None = None) -> int:
    """Serve on `sock` until asked to stop, then shut down as the module says. `on_ready(url)` is called once it
    listens (after engine.json is written). Returns the exit status."""
    host, port = sock.getsockname()[:2]
    request = request or ShutdownRequest(state)
    config = uvicorn.Config(create_app(state, cors_origins), log_config=None, access_log=False, ws="none",
                            lifespan="on", timeout_graceful_shutdown=GRACEFUL_S)
    written: lockfile.EngineLock | None = None

    def ready() -> None:
        nonlocal written
        if write_lock:
            written = lockfile.new_lock(port, host, state.token, parent_pid)
            lockfile.write(written)
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        log.info("engine serving on %s (pid %d)", url, os.getpid())
        if on_ready is not None:
            on_ready(url)

    server = _EngineServer(config, ready, request)
    request.server = server
    if parent_pid is not None:
        def parent_gone() -> None:
            if not keeps_serving(state):  # unless the window asked it to stay (POST /hearth/v1/keep-serving)
                request(f"its parent process {parent_pid} ended")

        watch_parent(parent_pid, parent_gone)
    try:
        if request.reason is None:
            server.run(sockets=[sock])
    finally:
        if written is not None:  # first: nobody can reach this engine any more, so nobody should try to join it
            lockfile.remove(written)
        code = shutdown(state, FORCED_STOP_S if server.force_exit else OWNER_STOP_S)
    return code


def shutdown(state: EngineState, wait_s: float = OWNER_STOP_S) -> int:
    """Stop every job, let the running one end, free the model, and close the database once nothing writes."""
    if not state.scheduler.shutdown(wait_s):
        log.error("the model owner is still busy after %.0f s; leaving without closing the database", wait_s)
        return 1
    state.core.db.close()
    log.info("engine stopped")
    return 0
