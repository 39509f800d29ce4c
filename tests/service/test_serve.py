"""`hearth serve` as a process: the ready line and engine.json, one engine per data folder, `--model`, and every way
it is told to stop (SIGTERM, Ctrl-C, its parent's death) ending it cleanly with the reply in progress saved as
stopped and no engine.json left behind."""

import dataclasses
import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from httpx_sse import connect_sse

from app.core.storage.models import MessageStatus
from app.service import lockfile
from tests.helpers.engine import EngineProcess, engine, message, new_reply, open_db
from tests.helpers.procs import hearth
from tests.helpers.waiting import wait_for

EXIT_TIMEOUT_S = 40


def test_serve_with_a_model_prints_where_it_listens_and_refuses_a_second_engine(hearth_home):
    with engine(hearth_home, "--model", "1") as first:
        assert first.stdout().strip() == f"Hearth engine on {first.url} (pid {first.proc.pid})"
        lock = json.loads(first.lock_path.read_text())
        assert set(lock) == {"pid", "port", "host", "token", "started", "version", "started_by"}
        assert lock["host"] == "127.0.0.1" and lock["started_by"] is None
        assert first.lock_path.stat().st_mode & 0o077 == 0  # the token is the owner's alone
        assert lockfile.live_engine(first.lock_path) == first.lock
        assert not lockfile.answers(dataclasses.replace(first.lock, token="guessed"))  # only its own token opens it
        with first.client() as client:
            assert client.get("/hearth/v1/status").json()["loaded_model"]["id"] == 1  # loaded before serving

        second = hearth("serve", "--port", "0", home=hearth_home, timeout=120)
        assert second.returncode == 1
        assert f"an engine already serves this data folder on {first.url}" in second.stderr
        assert "Traceback" not in second.stderr

        with engine(hearth_home, "--no-lock") as private:  # a second engine on request, which windows don't find
            assert private.proc.poll() is None
            assert lockfile.read(first.lock_path) == first.lock
        assert lockfile.read(first.lock_path) == first.lock  # its exit left the first engine's file alone


def _cors_allowed(client, origin: str) -> str | None:
    preflight = client.options("/v1/models", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    return preflight.headers.get("access-control-allow-origin")


def test_a_stale_engine_file_is_replaced_cors_follows_the_setting_and_bad_input_gets_a_clear_message(hearth_home):
    hearth_home.mkdir(parents=True, exist_ok=True)
    damaged = hearth_home / "engine.json"
    damaged.write_text("{half a file")
    assert lockfile.read(damaged) is None and lockfile.live_engine(damaged) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lockfile.write(lockfile.EngineLock(dead.pid, 9, "127.0.0.1", "old", 0.0, "0", None), hearth_home / "engine.json")
    (hearth_home / "settings.json").write_text(json.dumps({"server_cors_origins": ["http://localhost:3000"]}))
    with engine(hearth_home) as fresh, fresh.client() as client:
        assert fresh.lock.pid == fresh.proc.pid and fresh.lock.token != "old"
        assert _cors_allowed(client, "http://localhost:3000") == "http://localhost:3000"
        assert _cors_allowed(client, "http://elsewhere.example") is None
    (hearth_home / "settings.json").unlink()
    with engine(hearth_home) as plain, plain.client() as client:  # CORS is off unless origins are set
        assert _cors_allowed(client, "http://localhost:3000") is None
    unknown = hearth("serve", "--port", "0", "--model", "no-such-model", home=hearth_home, timeout=120)
    assert unknown.returncode == 2 and "no model matches 'no-such-model'" in unknown.stderr
    assert not (hearth_home / "engine.json").exists()
    bad_port = hearth("serve", "--port", "70000", home=hearth_home, timeout=120)
    assert bad_port.returncode == 2 and "--port 70000 is not a port" in bad_port.stderr


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "parent"])
def test_the_engine_stops_cleanly_and_saves_the_reply_as_stopped(hearth_home, how):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) if how == "parent" else None
    try:
        args = ["--parent-pid", str(parent.pid)] if parent else []
        with engine(hearth_home, *args) as proc:
            db = open_db(hearth_home)
            body = new_reply(db, ignore_eos=True, max_tokens=2000)
            with (proc.client() as client, connect_sse(client, "GET", "/hearth/v1/events") as hub,
                  connect_sse(client, "POST", "/hearth/v1/replies", json=body) as source):
                events = source.iter_sse()
                while next(events).json()["event"] != "tokens":
                    pass
                if parent is not None:
                    parent.kill()  # as a SIGKILL of the window would
                else:
                    os.kill(proc.proc.pid, getattr(signal, how))
                assert [e.json()["event"] for e in events][-1] == "reply_finished"  # the stream ends cleanly
                assert [e.json()["event"] for e in hub.iter_sse()][-1] == "engine_stopping"  # so does the window's
                assert proc.wait_exit(EXIT_TIMEOUT_S) == 0, proc.stderr()
            assert "ERROR" not in proc.stderr()
            assert not proc.lock_path.exists()
            assert not psutil.pid_exists(proc.proc.pid)
            row = message(db, body["assistant_id"])
            assert (row.status, row.finish_reason, row.owner_pid) == (MessageStatus.COMPLETE, "stopped", None)
            assert 0 < row.completion_tokens < 2000 and row.content
            assert "Traceback" not in proc.stderr()
            db.close()
    finally:
        if parent is not None:
            parent.kill()
            parent.wait()


def test_an_engine_whose_parent_is_already_gone_does_not_linger(hearth_home):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    proc = EngineProcess(hearth_home, "--port", "0", "--parent-pid", str(gone.pid))
    try:
        assert proc.wait_exit(EXIT_TIMEOUT_S) == 0, proc.stderr()
        assert not proc.lock_path.exists()
        assert wait_for(lambda: not psutil.pid_exists(proc.proc.pid), 5)
    finally:
        proc.kill()
