import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from app.core.storage import conversations as convs
from app.core.storage import recently_deleted
from app.core.storage.db import Database
from app.core.storage.models import Feedback, Message
from app.core.storage.recovery import mark_orphaned_streams, this_process


@pytest.fixture
def db(tmp_path):
    d = Database.open(tmp_path / "h.sqlite3")
    yield d
    d.close()


def _chat(session, *turns):
    conv = convs.create_conversation(session)
    parent = None
    ids = []
    for role, text in turns:
        parent = convs.add_message(session, conv.id, role=role, content=text, parent_id=parent).id
        ids.append(parent)
    return conv.id, ids


def test_title_comes_from_the_first_message_and_list_is_newest_first(db):
    with db.session() as s:
        first, _ = _chat(s, ("user", "How do magnets work?"))
        second, _ = _chat(s, ("user", "Plan a picnic " + "x" * 100))
    with db.session() as s:
        rows = convs.list_conversations(s)
    assert [r.id for r in rows] == [second, first]
    assert rows[1].title == "How do magnets work?"
    assert len(rows[0].title) <= convs.TITLE_CHARS and rows[0].title.endswith("…")


def test_delete_for_good_cascades_to_messages_feedback_and_search(db):
    with db.session() as s:
        cid, ids = _chat(s, ("user", "zebra stripes"), ("assistant", "They confuse flies."))
        convs.set_feedback(s, ids[1], rating=1)
    with db.session() as s:
        convs.delete_conversation(s, cid)
        recently_deleted.delete_for_good(s, cid)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0
        assert s.scalar(select(func.count()).select_from(Feedback)) == 0
        assert convs.search_conversations(s, "zebra") == []


def test_regenerations_are_siblings_and_branches_can_be_flipped(db):
    with db.session() as s:
        cid, (q, a1) = _chat(s, ("user", "Hi"), ("assistant", "Hello!"))
        a2 = convs.add_message(s, cid, role="assistant", content="Hey there.", parent_id=q).id
    with db.session() as s:
        thread = convs.thread(s, cid)
        assert [m.id for m in thread] == [q, a2]
        assert thread[1].sibling_ids == (a1, a2) and thread[1].sibling_index == 1
        convs.select_branch(s, a1)
    with db.session() as s:
        assert [m.content for m in convs.thread(s, cid)] == ["Hi", "Hello!"]


def test_branch_selection_follows_to_the_newest_leaf(db):
    with db.session() as s:
        cid, (q1, a1, q2, a2) = _chat(s, ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d"))
        edited = convs.add_message(s, cid, role="user", content="a2", parent_id=None).id
        reply = convs.add_message(s, cid, role="assistant", content="b2", parent_id=edited).id
        convs.select_branch(s, q1)
    with db.session() as s:
        assert [m.id for m in convs.thread(s, cid)] == [q1, a1, q2, a2]
        assert convs.thread(s, cid)[0].sibling_ids == (q1, edited)
        convs.select_branch(s, edited)
    with db.session() as s:
        assert [m.id for m in convs.thread(s, cid)] == [edited, reply]


def test_feedback_with_correction_is_stored_and_updated(db):
    with db.session() as s:
        cid, (_, a) = _chat(s, ("user", "2+2?"), ("assistant", "5"))
        convs.set_feedback(s, a, rating=-1, correction="4")
    with db.session() as s:
        fb = s.scalar(select(Feedback).where(Feedback.message_id == a))
        assert (fb.rating, fb.correction) == (-1, "4")
        convs.set_feedback(s, a, rating=1)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 1
        assert convs.thread(s, cid)[1].rating == 1
    with db.session() as s:
        user_message = convs.thread(s, cid)[0].id
    with db.session() as s, pytest.raises(LookupError):  # only replies can be rated
        convs.set_feedback(s, user_message, rating=1)


def test_full_text_search_finds_words_and_prefixes_with_snippets(db):
    with db.session() as s:
        cooking, _ = _chat(s, ("user", "How long to boil an egg?"), ("assistant", "About nine minutes for hard-boiled."))
        _chat(s, ("user", "Tell me about volcanoes"))
    with db.session() as s:
        found = convs.search_conversations(s, "boil")
        assert [c.id for c in found] == [cooking]
        assert "[" in found[0].snippet
        assert convs.search_conversations(s, "nine minutes")[0].id == cooking
        assert convs.search_conversations(s, "penguins") == []
        # punctuation that means something to FTS5 is harmless
        assert convs.search_conversations(s, 'egg" OR (') is not None


def test_fts_follows_updates_of_streaming_text(db):
    with db.session() as s:
        cid, (_, a) = _chat(s, ("user", "q"), ("assistant", "first draft"))
        s.get(Message, a).content = "final pineapple"
    with db.session() as s:
        assert [c.id for c in convs.search_conversations(s, "pineapple")] == [cid]
        assert convs.search_conversations(s, "draft") == []


def test_orphaned_streams_become_interrupted_but_live_ones_stay(db):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid, started = this_process()
    with db.session() as s:
        cid, (_, a) = _chat(s, ("user", "q"), ("assistant", "half a rep"))
        orphan = s.get(Message, a)
        orphan.status, orphan.owner_pid, orphan.owner_started = "streaming", dead.pid, 1.0
        live = convs.add_message(s, cid, role="assistant", content="still going", parent_id=orphan.parent_id,
                                 status="streaming", owner_pid=pid, owner_started=started)
        live_id = live.id
    with db.session() as s:
        assert mark_orphaned_streams(s) == 1
    with db.session() as s:
        assert s.get(Message, a).status == "interrupted"
        assert s.get(Message, a).content == "half a rep"
        assert s.get(Message, live_id).status == "streaming"
    assert os.getpid() == pid
