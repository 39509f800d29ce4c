import json
import threading

from app.core.chat import reply as reply_mod
from app.core.chat.reply import run_reply
from app.core.chat.turns import start_edit, start_regenerate, start_turn
from app.core.engine.events import ContextTrimmed, Finished, TextDelta
from app.core.export import export_dict, export_markdown
from app.core.storage import conversations as convs
from app.core.storage.models import Message


def _new(core, **kw):
    with core.db.session() as s:
        # ignore_eos: each reply runs to max_tokens, so none of these checks rests on where the model stops
        return convs.create_conversation(s, params={"temperature": 0.0, "max_tokens": 40, "ignore_eos": True,
                                                    **kw}).id


def test_reply_is_persisted_with_stats(core, llama):
    cid = _new(core)
    pending = start_turn(core.db, cid, "Say hello.")
    events = list(run_reply(core.db, llama, pending, lambda: False))
    final = events[-1]
    assert isinstance(final, Finished)
    with core.db.session() as s:
        msg = s.get(Message, pending.assistant_id)
        assert msg.status == "complete" and msg.content == final.text
        assert msg.completion_tokens == final.completion_tokens and msg.tokens_per_s > 0 and msg.ttft_ms > 0
        assert msg.owner_pid is None and msg.model_name == pending.model.name


def test_growing_reply_is_saved_at_least_every_second(core, llama, monkeypatch):
    monkeypatch.setattr(reply_mod, "SAVE_INTERVAL_S", 0.05)
    cid = _new(core, max_tokens=120)
    pending = start_turn(core.db, cid, "Write a long story about a lighthouse keeper.")
    seen = []
    for event in run_reply(core.db, llama, pending, lambda: False):
        if isinstance(event, TextDelta):
            with core.db.session() as s:
                seen.append(len(s.get(Message, pending.assistant_id).content))
    assert max(seen) > 0, "text must reach the database while the reply is still streaming"
    assert len(set(seen)) > 3


def test_walking_away_marks_the_reply_interrupted_with_its_text(core, llama):
    cid = _new(core, max_tokens=100)
    pending = start_turn(core.db, cid, "Count to fifty.")
    stream = run_reply(core.db, llama, pending, lambda: False)
    for _, _event in zip(range(10), stream):
        pass
    stream.close()
    with core.db.session() as s:
        msg = s.get(Message, pending.assistant_id)
        assert msg.status == "interrupted" and msg.content


def test_regenerate_and_edit_keep_the_old_versions(core, llama):
    cid = _new(core)
    first = start_turn(core.db, cid, "Pick a fruit.")
    list(run_reply(core.db, llama, first, lambda: False))
    again = start_regenerate(core.db, first.assistant_id)
    list(run_reply(core.db, llama, again, lambda: False))
    edited = start_edit(core.db, first.parent_id, "Pick a vegetable.")
    list(run_reply(core.db, llama, edited, lambda: False))
    with core.db.session() as s:
        thread = convs.thread(s, cid)
        assert [m.content for m in thread][0] == "Pick a vegetable."
        assert len(thread[0].sibling_ids) == 2
        convs.select_branch(s, first.parent_id)
    with core.db.session() as s:
        thread = convs.thread(s, cid)
        assert thread[1].sibling_ids == (first.assistant_id, again.assistant_id)


def test_context_trimming_is_reported_and_recorded(core, starter_path):
    from app.core.engine.llama_backend import LlamaBackend

    small = LlamaBackend(starter_path, n_ctx=256, n_threads=1)
    try:
        cid = _new(core, max_tokens=64)
        with core.db.session() as s:
            parent = None
            for i in range(4):
                parent = convs.add_message(s, cid, role="user", content=f"Turn {i}: " + "words " * 40, parent_id=parent).id
                parent = convs.add_message(s, cid, role="assistant", content="ok " * 20, parent_id=parent).id
            first_ids = [m.id for m in convs.thread(s, cid)]
        pending = start_turn(core.db, cid, "Summarise.")
        events = list(run_reply(core.db, small, pending, lambda: False))
        trimmed = [e for e in events if isinstance(e, ContextTrimmed)]
        assert trimmed and trimmed[0].dropped_ids == tuple(first_ids[: len(trimmed[0].dropped_ids)])
        assert isinstance(events[-1], Finished) and events[-1].prompt_tokens <= 256 - 64
        with core.db.session() as s:
            assert s.get(Message, pending.assistant_id).params["context_dropped"] == list(trimmed[0].dropped_ids)
    finally:
        small.close()


def test_export_json_shape_and_markdown(core, llama):
    cid = _new(core)
    pending = start_turn(core.db, cid, "Hi!")
    list(run_reply(core.db, llama, pending, lambda: False))
    with core.db.session() as s:
        convs.set_feedback(s, pending.assistant_id, rating=-1, correction="Hello! How can I help?")
    data = json.loads(json.dumps(export_dict(core.db)))
    conv = data["conversations"][0]
    assert {"id", "title", "created_at", "system_prompt", "messages"} <= conv.keys()
    user, bot = conv["messages"]
    assert {"id", "parent_id", "role", "content", "status", "model", "created_at", "feedback"} <= bot.keys()
    assert user["feedback"] is None and bot["parent_id"] == user["id"]
    assert bot["feedback"] == {"rating": -1, "correction": "Hello! How can I help?", "note": None}
    md = export_markdown(core.db, cid)
    assert "**You**" in md and "Hello! How can I help?" in md


def test_engine_can_be_used_from_another_thread_than_the_one_that_loaded_it(core, llama):
    # The engine thread in the app loads and generates on the same thread; this checks nothing in core is
    # tied to the main thread (e.g. SQLite connections) either.
    cid = _new(core)
    pending = start_turn(core.db, cid, "Hello")
    out = []
    t = threading.Thread(target=lambda: out.extend(run_reply(core.db, llama, pending, lambda: False)))
    t.start()
    t.join(60)
    assert isinstance(out[-1], Finished)
