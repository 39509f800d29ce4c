"""`hearth serve`: the engine service without a window (the window starts the same command as its engine).

Defaults come from the Server settings (port 8760, address 127.0.0.1, the API key, the CORS origins), so the
command serves what the Server tab shows. One engine serves a data folder: with `--lock` (the default) the command
refuses to start while engine.json names an engine that is running and answers, and writes engine.json itself
once it listens. `--no-lock` neither checks nor writes it: a second, private engine (e.g. for a benchmark) that
windows do not find; its window routes are then unreachable, its OpenAI routes work as usual.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys

from app.service.scheduler import DEFAULT_MAX_QUEUED

log = logging.getLogger(__name__)

FALLBACK_PORT = 8760  # used only if the settings do not declare the server's options


def add_parser(sub) -> None:
    serve = sub.add_parser(
        "serve", help="run the engine without a window: the model, and an OpenAI-compatible API on this computer",
        description="Serve the model over HTTP on 127.0.0.1: the OpenAI-compatible API under /v1 (any OpenAI "
                    "client works) and the window's own routes. Stop it with Ctrl-C.")
    serve.add_argument("--port", type=int, help="the port to listen on (default: the Server setting, 8760); "
                       "0 picks a free one")
    serve.add_argument("--host", help="the address to listen on (default: the Server setting, 127.0.0.1: this "
                       "computer only). Any other address lets other computers connect")
    serve.add_argument("--api-key", help="clients must send this key (Authorization: Bearer KEY); default: the "
                       "Server setting (empty: no key needed)")
    serve.add_argument("--model", help="load this model (name or id) before serving; otherwise a request loads the "
                       "model it names")
    serve.add_argument("--parent-pid", type=int, metavar="PID", help="stop when this process ends (the window "
                       "passes its own)")
    serve.add_argument("--lock", action=argparse.BooleanOptionalAction, default=True,
                       help="refuse to start while another engine serves this data folder, and record this one in "
                       "engine.json so the window finds it (default: on)")
    serve.add_argument("--max-queued", type=int, default=DEFAULT_MAX_QUEUED, metavar="N",
                       help=f"requests that may wait for the model; more are refused with 503 and Retry-After "
                       f"(default {DEFAULT_MAX_QUEUED})")


def _server_settings(args) -> tuple[str, int, str | None, list[str]]:
    from app.core.settings import Settings

    settings = Settings()

    def setting(key: str, default):
        try:
            return settings[key]
        except KeyError:
            return default

    host = args.host or setting("server_host", "127.0.0.1")
    port = args.port if args.port is not None else setting("server_port", FALLBACK_PORT)
    key = args.api_key if args.api_key is not None else setting("server_api_key", "")
    origins = [o for o in setting("server_cors_origins", []) if o]
    return host, port, (key or None), origins


def _fail(message: str, code: int = 1) -> int:
    print(f"hearth: {message}", file=sys.stderr)
    log.error("%s", message, extra={"shown_to_user": True})
    return code


def run(args) -> int:
    code = _serve(args)
    if code == 3:  # the model owner never stopped: leave at once rather than tear down under native code
        logging.shutdown()
        os._exit(1)
    return code


def _serve(args) -> int:
    from app.service import lockfile

    host, port, api_key, origins = _server_settings(args)
    if not 0 <= port <= 65535:
        return _fail(f"--port {port} is not a port; use 1 to 65535, or 0 for a free one.", 2)
    if args.lock:
        running = lockfile.live_engine()
        if running is not None:
            return _fail(f"an engine already serves this data folder on {running.base_url} (pid {running.pid}). "
                         "Use it, stop it first, or start another with --no-lock.")
    from app.service.server import bind

    try:
        sock = bind(host, port)
    except OSError as exc:
        return _fail(f"cannot listen on {host}:{port} ({exc.strerror or exc}). Pick another port with --port, or "
                     "--port 0 for a free one.")
    with sock:
        return _serve_on(args, sock, api_key, origins)


def _serve_on(args, sock, api_key: str | None, origins: list[str]) -> int:
    from app.core.library.registry import find_model
    from app.core.startup import open_core
    from app.service.scheduler import Scheduler
    from app.service.server import LOOPBACK, ShutdownRequest, run_server, shutdown
    from app.service.state import EngineState

    core = open_core()
    state = EngineState(core, Scheduler(core.new_host(), core.db, max_queued=max(1, args.max_queued)),
                        token=secrets.token_urlsafe(32), api_key=api_key)
    request = ShutdownRequest(state)
    previous = signal.signal(signal.SIGTERM, lambda *_: request("SIGTERM"))  # until uvicorn takes the signals
    try:
        if args.model:
            with core.db.session() as session:
                model = find_model(session, args.model)
            if model is None:
                shutdown(state)
                return _fail(f"no model matches {args.model!r}; `hearth models list` shows the library.", 2)
            handle = state.scheduler.submit(lambda ctx: state.jobs.load(ctx, model), f"load {model.name}")
            handle.done.wait()
            if handle.result is None and request.reason is None:
                failed = state.hub.last.get("model_failed", {}).get("message", "it could not be loaded")
                shutdown(state)
                return _fail(failed)
    except KeyboardInterrupt:
        request("SIGINT")
    finally:
        signal.signal(signal.SIGTERM, previous)
    host = sock.getsockname()[0]
    if host not in (LOOPBACK, "::1", "localhost"):
        print(f"hearth: listening on {host}: other computers on that network can use the model"
              f"{'' if api_key else ', and no API key is set'}.", file=sys.stderr)

    def ready(url: str) -> None:
        try:
            print(f"Hearth engine on {url} (pid {os.getpid()})", flush=True)
        except (OSError, ValueError):  # nobody reads our stdout (closed): engine.json still says where we are
            pass

    code = run_server(state, sock, cors_origins=origins, parent_pid=args.parent_pid, write_lock=args.lock,
                      on_ready=ready, request=request)
    return 3 if code == 1 else code
