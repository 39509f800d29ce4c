"""A job that raises where nobody expected it still ends its stream with its final event, marks its reply, and is
logged (in-process: the failure is put there on purpose, which a real engine would not let a test do)."""

import json

import pytest
from fastapi.testclient import TestClient

from app.core.storage.models import MessageStatus
from app.service.scheduler import Scheduler
from app.service.server import create_app
from app.service.state import EngineState
from tests.helpers.engine import message, new_reply


@pytest.fixture
def engine_app(core):
    state = EngineState(core, Scheduler(core.new_host(), core.db), token="secret")
    with TestClient(create_app(state), headers={"Authorization": "Bearer secret"}) as client:
        yield client, state
    state.scheduler.shutdown()


def _events(client, route: str, body: dict) -> list[dict]:
    with client.stream("POST", route, json=body) as response:
        assert response.status_code == 200
        return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]


def test_a_reply_that_raises_is_marked_failed_and_its_caller_hears_it(engine_app, core, monkeypatch):
    client, state = engine_app

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(state.jobs, "_reply", broken)
    body = new_reply(core.db)
    assert _events(client, "/hearth/v1/replies", body) == [
        {"event": "reply_failed", "assistant_id": body["assistant_id"], "message": "The reply failed: disk full"}]
    row = message(core.db, body["assistant_id"])
    assert (row.status, row.error) == (MessageStatus.ERROR, "The reply failed: disk full")
    assert state.hub.last["request"]["outcome"] == "failed"


def test_any_job_that_raises_ends_its_stream_with_its_final_event_and_a_logged_500(engine_app, core, monkeypatch):
    client, state = engine_app

    def broken(*_args):
        raise RuntimeError("out of luck")

    monkeypatch.setattr(state.jobs, "benchmark", broken)
    model_id = new_reply(core.db)["model_id"]
    events = _events(client, "/hearth/v1/benchmark", {"model_id": model_id})
    assert events == [{"event": "benchmark_failed", "model_id": model_id,
                       "message": "The engine could not finish this: out of luck"}]
    assert state.hub.last["request"]["status"] == 500
    assert client.get("/hearth/v1/status").json()["state"] == "idle"  # the engine goes on
