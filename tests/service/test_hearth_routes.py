"""The window's routes against a real `hearth serve` child with the starter model: loads, a reply saved as it
streams, stop, a client that walks away, a full queue, the token, the request log, and deleting a conversation
whose reply was streaming. One engine serves the module (a queue of one, so a full queue is easy to reach)."""

from types import SimpleNamespace

import httpx
import pytest
from httpx_sse import connect_sse
from sqlalchemy import delete

from app.core.storage.conversations import delete_conversation
from app.core.storage.models import Conversation, MessageStatus
from app.core.storage.recently_deleted import ConversationBusyError, delete_for_good
from tests.helpers.engine import engine, job_events, message, new_reply, open_db
from tests.helpers.tiny_adapter import register_tiny_adapter
from tests.helpers.waiting import wait_for

LONG = 2000  # tokens: a reply that is still running whenever the test acts on it


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("engine-home")
    with engine(home, "--max-queued", "1") as proc:
        db = open_db(home)
        with proc.client() as client:
            yield proc, client, db
        db.close()


def _until(events, kind: str) -> list[dict]:
    """Read a stream's events (one `iter_sse()` iterator, read in turns) up to the first `kind`."""
    seen = []
    for sse in events:
        seen.append(sse.json())
        if seen[-1]["event"] == kind:
            return seen
    raise AssertionError(f"the stream ended without {kind}: {seen[-3:]}")


def _stop_and_finish(client, events, assistant_id: int) -> dict:
    """Stop a running reply; it ends within one token of the moment the engine set the stop."""
    answer = client.post(f"/hearth/v1/replies/{assistant_id}/stop").json()
    assert answer["stopped"] is True
    finished = _until(events, "reply_finished")[-1]["finished"]
    assert finished["finish_reason"] == "stopped"
    assert answer["tokens"] <= finished["completion_tokens"] <= answer["tokens"] + 1
    return finished


def test_the_routes_need_the_engine_token(served):
    proc, client, _db = served
    status = client.get("/hearth/v1/status")
    assert status.status_code == 200
    assert status.json()["pid"] == proc.proc.pid and status.json()["state"] == "idle"
    for token in (None, "not-the-token"):
        with proc.client(token=token) as stranger:
            assert stranger.get("/hearth/v1/status").status_code == 401
            assert stranger.post("/hearth/v1/replies", json={}).status_code == 401
            assert stranger.post("/hearth/v1/load", json={"model_id": 1}).status_code == 401


def test_load_streams_its_events_and_the_engine_reports_the_model(served):
    _proc, client, db = served
    model_id = new_reply(db)["model_id"]
    with connect_sse(client, "GET", "/hearth/v1/events") as hub:
        seen = hub.iter_sse()
        assert _next(seen, lambda e: e["event"] == "state") == {"event": "state", "state": "idle"}
        kinds = [e["event"] for e in job_events(client, "/hearth/v1/load", {"model_id": model_id})]
        assert kinds == ["load_started", "model_loaded"], kinds
        measured = _next(seen, lambda e: e["event"] == "memory_measured")
        assert measured["model_id"] == model_id and measured["peak_bytes"] > 0
    loaded = client.get("/hearth/v1/status").json()["loaded_model"]
    assert loaded["id"] == model_id and loaded["info"]["backend"] == "llama.cpp"
    with connect_sse(client, "GET", "/hearth/v1/events") as events:  # a new window hears the state at once
        replayed = {}
        for sse in events.iter_sse():
            replayed[sse.json()["event"]] = sse.json()
            if "loaded_model_changed" in replayed:
                break
    assert replayed["state"]["state"] == "idle" and replayed["model_loaded"]["model_id"] == model_id
    assert client.post("/hearth/v1/load", json={"model_id": 999999}).status_code == 404


def test_a_reply_is_saved_while_it_streams_by_the_engine_that_claimed_it(served):
    proc, client, db = served
    body = new_reply(db, ignore_eos=True, max_tokens=LONG)
    mid, saved = body["assistant_id"], None
    with connect_sse(client, "POST", "/hearth/v1/replies", json=body) as source:
        events = source.iter_sse()
        assert next(events).json() == {"event": "reply_started", "assistant_id": mid}
        for sse in events:  # until the engine has saved part of it (it does at least once a second)
            assert sse.json()["event"] != "reply_finished", "nothing was saved before the reply ended"
            row = message(db, mid)
            if row.status == MessageStatus.STREAMING and row.content:
                saved = row
                break
        finished = _stop_and_finish(client, events, mid)
    assert saved.owner_pid == proc.proc.pid  # the engine claimed the window's placeholder
    assert finished["text"].startswith(saved.content)


def test_a_forced_reply_streams_every_token_and_is_complete_at_the_end(served):
    _proc, client, db = served
    body = new_reply(db, ignore_eos=True, max_tokens=48)
    events = job_events(client, "/hearth/v1/replies", body)
    final = events[-1]
    assert final["event"] == "reply_finished" and final["finished"]["completion_tokens"] == 48
    assert final["finished"]["finish_reason"] == "length"
    text = "".join(e["text"] for e in events if e["event"] == "tokens")
    assert text == final["finished"]["text"]
    row = message(db, body["assistant_id"])
    assert (row.status, row.content, row.completion_tokens, row.owner_pid) == (MessageStatus.COMPLETE, text, 48, None)


def test_stop_ends_a_reply_and_keeps_its_text(served):
    _proc, client, db = served
    body = new_reply(db, ignore_eos=True, max_tokens=LONG)
    with connect_sse(client, "POST", "/hearth/v1/replies", json=body) as source:
        events = source.iter_sse()
        streamed = [e["text"] for e in _until(events, "tokens") if e["event"] == "tokens"]
        finished = _stop_and_finish(client, events, body["assistant_id"])
    assert finished["finish_reason"] == "stopped" and finished["completion_tokens"] < LONG
    row = message(db, body["assistant_id"])
    assert (row.status, row.finish_reason, row.content) == (MessageStatus.COMPLETE, "stopped", finished["text"])
    assert finished["text"].startswith("".join(streamed))


def test_a_client_that_disconnects_frees_the_engine(served):
    _proc, client, db = served
    walked_away = new_reply(db, ignore_eos=True, max_tokens=LONG)
    with connect_sse(client, "POST", "/hearth/v1/replies", json=walked_away) as source:
        _until(source.iter_sse(), "tokens")
    # The next job runs only once the abandoned one has ended.
    after = job_events(client, "/hearth/v1/replies", new_reply(db, ignore_eos=True, max_tokens=16))
    assert after[-1]["event"] == "reply_finished"
    row = message(db, walked_away["assistant_id"])
    assert (row.status, row.finish_reason) == (MessageStatus.COMPLETE, "stopped")
    assert row.completion_tokens < LONG


def test_a_full_queue_is_refused_with_retry_after(served):
    _proc, client, db = served
    running, waiting = new_reply(db, ignore_eos=True, max_tokens=LONG), new_reply(db)
    with connect_sse(client, "POST", "/hearth/v1/replies", json=running) as source:
        first = source.iter_sse()
        _until(first, "reply_started")
        with connect_sse(client, "POST", "/hearth/v1/replies", json=waiting) as queued:
            second = queued.iter_sse()
            refused = client.post("/hearth/v1/replies", json=new_reply(db))
            assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
            assert "busy" in refused.json()["detail"]
            assert client.post(f"/hearth/v1/replies/{waiting['assistant_id']}/stop").json()["tokens"] == 0
            _stop_and_finish(client, first, running["assistant_id"])
            assert _until(second, "reply_failed")[-1]["message"] == "Stopped before it started."
    assert message(db, waiting["assistant_id"]).status == MessageStatus.ERROR


def test_deleting_a_conversation_whose_reply_streams_leaves_the_engine_usable(served):
    _proc, client, db = served
    body = new_reply(db, ignore_eos=True, max_tokens=LONG)
    with connect_sse(client, "POST", "/hearth/v1/replies", json=body) as source:
        events = source.iter_sse()
        _until(events, "tokens")
        with db.session() as session:
            delete_conversation(session, body["conversation_id"])
        with pytest.raises(ConversationBusyError), db.session() as session:  # the engine writes it: not yet
            delete_for_good(session, body["conversation_id"])
        _stop_and_finish(client, events, body["assistant_id"])  # the window stops it first...
    with db.session() as session:
        delete_for_good(session, body["conversation_id"])  # ...then deletes it for good
    assert message(db, body["assistant_id"]) is None
    assert job_events(client, "/hearth/v1/replies", new_reply(db, max_tokens=16))[-1]["event"] == "reply_finished"


def test_a_reply_for_a_deleted_message_fails_cleanly(served):
    _proc, client, db = served
    body = new_reply(db)
    with db.session() as session:  # gone by any route (the window's delete refuses while its own placeholder waits)
        session.execute(delete(Conversation).where(Conversation.id == body["conversation_id"]))
    events = job_events(client, "/hearth/v1/replies", body)
    assert [e["event"] for e in events] == ["reply_failed"]
    assert job_events(client, "/hearth/v1/replies", new_reply(db, max_tokens=16))[-1]["event"] == "reply_finished"


def test_benchmark_times_an_uncached_prompt_can_be_stopped_and_is_logged(served):
    _proc, client, db = served
    model_id = new_reply(db)["model_id"]
    runs = [job_events(client, "/hearth/v1/benchmark", {"model_id": model_id})[-1] for _ in range(2)]
    assert [r["event"] for r in runs] == ["benchmark_finished"] * 2
    first, second = (r["result"]["prompt_tok_s"] for r in runs)
    assert second < 3 * first, f"the second run timed a cached prompt ({first} vs {second} tokens/s)"
    with connect_sse(client, "GET", "/hearth/v1/events") as hub:
        seen = hub.iter_sse()
        with connect_sse(client, "POST", "/hearth/v1/benchmark", json={"model_id": model_id}):
            assert _next(seen, lambda e: e == {"event": "state", "state": "generating"})
        logged = _next(seen, lambda e: e["event"] == "request" and e["route"] == "/hearth/v1/benchmark")
    assert logged["outcome"] == "stopped" and logged["status"] == 200 and logged["client"].startswith("127.0.0.1:")
    with pytest.raises(httpx.HTTPStatusError):
        client.post("/hearth/v1/benchmark", json={"model_id": "x"}).raise_for_status()


def _next(sse_iter, match):
    for sse in sse_iter:
        if match(sse.json()):
            return sse.json()
    raise AssertionError("the event stream ended")


def test_compare_answers_with_base_and_adapter_on_the_asked_backend_and_can_be_stopped(served, tmp_path):
    _proc, client, db = served
    adapter_id = register_tiny_adapter(SimpleNamespace(db=db), tmp_path, "tiny")  # lora_b = 0: the base's replies
    model_id = new_reply(db)["model_id"]
    body = {"model_id": model_id, "adapter_id": adapter_id, "prompt": "Name a colour.", "backend": "llama.cpp",
            "params": {"temperature": 0.0, "seed": 3, "max_tokens": 16, "ignore_eos": True}}
    job_events(client, "/hearth/v1/unload")
    with connect_sse(client, "GET", "/hearth/v1/events") as hub:
        seen = hub.iter_sse()
        done = job_events(client, "/hearth/v1/compare", body)[-1]
        load = _next(seen, lambda e: e["event"] == "load_started")
    assert load["backend"] == "llama.cpp" and load["model"]["id"] == model_id
    assert done["event"] == "comparison_finished" and done["base"] == done["adapter"] and done["base"]
    long_one = {**body, "params": {**body["params"], "max_tokens": LONG}}
    with connect_sse(client, "GET", "/hearth/v1/events") as hub:
        seen = hub.iter_sse()
        with connect_sse(client, "POST", "/hearth/v1/compare", json=long_one):
            assert _next(seen, lambda e: e == {"event": "state", "state": "generating"})
        logged = _next(seen, lambda e: e["event"] == "request" and e["route"] == "/hearth/v1/compare")
    assert logged["outcome"] == "stopped"
    assert client.post("/hearth/v1/compare", json={**body, "backend": "nonsense"}).status_code == 422
    assert client.post("/hearth/v1/compare", json={**body, "adapter_id": 999999}).status_code == 404


def test_a_reply_stopped_before_its_request_arrives_never_starts(served):
    _proc, client, db = served
    body = new_reply(db, max_tokens=16)
    assert client.post(f"/hearth/v1/replies/{body['assistant_id']}/stop").json() == {"stopped": True, "tokens": 0}
    events = job_events(client, "/hearth/v1/replies", body)
    assert events == [{"event": "reply_failed", "assistant_id": body["assistant_id"],
                       "message": "Stopped before it started."}]
    assert message(db, body["assistant_id"]).status == MessageStatus.ERROR


def test_release_unloads_the_model_whose_files_are_about_to_go(served):
    _proc, client, db = served
    model_id = new_reply(db)["model_id"]
    job_events(client, "/hearth/v1/load", {"model_id": model_id})
    assert job_events(client, "/hearth/v1/release", {"model_id": 424242}) == [
        {"event": "model_released", "model_id": 424242}]  # not the loaded one: it stays
    assert client.get("/hearth/v1/status").json()["loaded_model"]["id"] == model_id
    assert job_events(client, "/hearth/v1/release", {"model_id": model_id}) == [
        {"event": "model_released", "model_id": model_id}]
    assert client.get("/hearth/v1/status").json()["loaded_model"] is None
    assert job_events(client, "/hearth/v1/replies", new_reply(db, max_tokens=16))[-1]["event"] == "reply_finished"
