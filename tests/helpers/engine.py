"""A real `hearth serve` child for tests: started on 127.0.0.1 with port 0 in a given Hearth home, found through
its engine.json, and ended with its whole process tree however the test went."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import httpx
from httpx_sse import connect_sse

from app.core.child_command import end_tree
from app.service import lockfile
from tests.helpers.waiting import wait_for

START_TIMEOUT_S = 90


class EngineProcess:
    def __init__(self, home: Path, *args: str, env: dict | None = None):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        out_fd, out_name = tempfile.mkstemp(prefix="engine-stdout-", suffix=".txt", dir=self.home)
        err_fd, err_name = tempfile.mkstemp(prefix="engine-stderr-", suffix=".txt", dir=self.home)
        self.stdout_path, self.stderr_path = Path(out_name), Path(err_name)
        full_env = dict(os.environ, HEARTH_HOME=str(self.home), PYTHONUNBUFFERED="1", **(env or {}))
        with os.fdopen(out_fd, "w") as out, os.fdopen(err_fd, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", *args],
                                         env=full_env, stdout=out, stderr=err)
        self.lock: lockfile.EngineLock | None = None
        self.url = ""

    @property
    def lock_path(self) -> Path:
        return self.home / "engine.json"

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> EngineProcess:
        """Wait for the ready line (engine.json is written just before it)."""
        ready = re.compile(r"^Hearth engine on (\S+) \(pid (\d+)\)$", re.M)
        assert wait_for(lambda: self.proc.poll() is not None or ready.search(self.stdout()), timeout), (
            f"the engine did not start in {timeout} s: {self.stderr()}")
        assert self.proc.poll() is None, f"the engine ended ({self.proc.returncode}): {self.stderr()}"
        self.url = ready.search(self.stdout()).group(1)
        lock = lockfile.read(self.lock_path)
        self.lock = lock if lock is not None and lock.pid == self.proc.pid else None
        return self

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def client(self, token: str | None = "__engine__", timeout: float = 60.0) -> httpx.Client:
        token = self.lock.token if token == "__engine__" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self, graceful_s: float = 30.0) -> None:
        """End the engine and anything it started, whatever state it is in (fixture teardown): asked to stop first
        (SIGTERM), killed if it has not within `graceful_s`."""
        end_tree(self.proc, graceful_s)


@contextmanager
def engine(home: Path, *args: str, env: dict | None = None):
    proc = EngineProcess(home, "--port", "0", *args, env=env)
    try:
        yield proc.wait_ready()
    finally:
        proc.kill()


def job_events(client: httpx.Client, route: str, body: dict | None = None, *, until: str | None = None) -> list[dict]:
    """POST a job route and collect its events to the end of the stream (or to the first `until` event)."""
    seen = []
    with connect_sse(client, "POST", route, json=body or {}) as source:
        assert source.response.status_code == 200, source.response.read()
        for sse in source.iter_sse():
            seen.append(sse.json())
            if until is not None and seen[-1]["event"] == until:
                break
    return seen


def open_db(home: Path):
    """The engine's database, opened by the test as the window would open it."""
    from app.core.storage.db import Database

    return Database.open(Path(home) / "hearth.sqlite3")


def new_reply(db, text: str = "Tell me about the sea.", **params) -> dict:
    """A conversation with one user message and the reply's placeholder (as the window creates them); returns the
    /hearth/v1/replies body for it. `params` are the conversation's generation settings (ignore_eos, max_tokens...)."""
    from app.core.chat.turns import start_turn
    from app.core.storage.conversations import create_conversation

    with db.session() as session:
        conversation_id = create_conversation(session, params={"temperature": 0.0, "seed": 1, **params}).id
    pending = start_turn(db, conversation_id, text)
    return {"conversation_id": conversation_id, "assistant_id": pending.assistant_id, "parent_id": pending.parent_id,
            "model_id": pending.model.id, "backend": pending.backend, "adapter_id": None,
            "params": pending.params.to_dict()}


def message(db, message_id: int):
    from app.core.storage.models import Message

    with db.session() as session:
        return session.get(Message, message_id)
