from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.core.export import export_dict
from app.core.storage import conversations as convs
from app.core.storage import recently_deleted as deleted
from app.core.storage.db import Database
from app.core.storage.models import Conversation, Feedback, Message, utcnow
from app.core.storage.recovery import this_process
from app.core.training.examples import from_conversations, rated_conversations


@pytest.fixture
def db(tmp_path):
    d = Database.open(tmp_path / "h.sqlite3")
    yield d
    d.close()


def _rated_chat(session, question: str, answer: str) -> tuple[int, int]:
    conv = convs.create_conversation(session)
    q = convs.add_message(session, conv.id, role="user", content=question)
    a = convs.add_message(session, conv.id, role="assistant", content=answer, parent_id=q.id)
    convs.set_feedback(session, a.id, rating=1)
    return conv.id, a.id


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_deleted_conversation_leaves_list_search_export_and_training_but_keeps_its_rows(db):
    with db.session() as s:
        kept, _ = _rated_chat(s, "How do tides work?", "The moon pulls the oceans.")
        gone, gone_reply = _rated_chat(s, "Best walrus facts?", "Walruses use their tusks to climb.")
    with db.session() as s:
        convs.delete_conversation(s, gone)
    with db.session() as s:
        assert [c.id for c in convs.list_conversations(s)] == [kept]
        assert convs.search_conversations(s, "walrus") == []
        assert [c.id for c in convs.search_conversations(s, "moon")] == [kept]
        assert [row[0] for row in rated_conversations(s)] == [kept]
        where = [e.origin for e in from_conversations(s).examples]
        assert len(where) == 1 and where[0].startswith(f"conversation {kept},")
        # even when asked for by id, a deleted conversation is not taught
        assert from_conversations(s, conversation_ids=[gone]).examples == []
        assert _count(s, Message) == 4 and _count(s, Feedback) == 2  # nothing is lost yet
        with pytest.raises(LookupError, match="Recently deleted"):
            convs.require_listed_conversation(s, gone)
    assert [c["id"] for c in export_dict(db)["conversations"]] == [kept]
    with pytest.raises(LookupError, match="Recently deleted"):
        export_dict(db, gone)


def test_restore_brings_it_back_everywhere(db):
    with db.session() as s:
        cid, _ = _rated_chat(s, "Best walrus facts?", "Walruses use their tusks to climb.")
        convs.delete_conversation(s, cid)
    with db.session() as s:
        assert deleted.deleted_count(s) == 1
        deleted.restore(s, cid)
    with db.session() as s:
        assert deleted.deleted_count(s) == 0 and deleted.list_deleted(s) == []
        assert [c.id for c in convs.search_conversations(s, "walrus")] == [cid]
        assert [row[0] for row in rated_conversations(s)] == [cid]
    assert [c["id"] for c in export_dict(db, cid)["conversations"]] == [cid]


def test_recently_deleted_lists_newest_first_with_the_days_left(db):
    with db.session() as s:
        older = convs.create_conversation(s, title="Older").id
        newer = convs.create_conversation(s, title="Newer").id
        convs.delete_conversation(s, older)
        convs.delete_conversation(s, newer)
        s.get(Conversation, older).deleted_at = utcnow() - timedelta(days=10, hours=1)
    with db.session() as s:
        rows = deleted.list_deleted(s)
    assert [(r.id, r.title, r.days_left) for r in rows] == [
        (newer, "Newer", deleted.RECENTLY_DELETED_DAYS), (older, "Older", deleted.RECENTLY_DELETED_DAYS - 10)
    ]


def test_purge_removes_only_what_waited_long_enough_with_its_messages_and_search_rows(db):
    with db.session() as s:
        expired, _ = _rated_chat(s, "Old walrus question", "Old walrus answer")
        recent, _ = _rated_chat(s, "Recent walrus question", "Recent walrus answer")
        untouched, _ = _rated_chat(s, "Ancient but kept", "Never deleted")
        convs.delete_conversation(s, expired)
        convs.delete_conversation(s, recent)
        s.get(Conversation, expired).deleted_at = utcnow() - timedelta(days=deleted.RECENTLY_DELETED_DAYS, minutes=1)
        s.get(Conversation, recent).deleted_at = utcnow() - timedelta(days=deleted.RECENTLY_DELETED_DAYS - 1)
        s.get(Conversation, untouched).updated_at = utcnow() - timedelta(days=400)
    with db.session() as s:
        assert deleted.purge_deleted(s) == 1
    with db.session() as s:
        assert s.get(Conversation, expired) is None
        assert [r.id for r in deleted.list_deleted(s)] == [recent]
        assert [c.id for c in convs.list_conversations(s)] == [untouched]
        assert _count(s, Message) == 4 and _count(s, Feedback) == 2  # the expired one's went with it
        deleted.restore(s, recent)
    with db.session() as s:  # the search index lost exactly the purged messages
        assert [c.id for c in convs.search_conversations(s, "walrus")] == [recent]
        s.connection().exec_driver_sql("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')")


def test_start_up_purges_expired_conversations(hearth_home):
    from app.core.startup import open_core

    core = open_core()
    with core.db.session() as s:
        cid = convs.create_conversation(s).id
        convs.delete_conversation(s, cid)
        s.get(Conversation, cid).deleted_at = utcnow() - timedelta(days=deleted.RECENTLY_DELETED_DAYS + 1)
    core.db.close()
    core = open_core()
    with core.db.session() as s:
        assert s.get(Conversation, cid) is None
    core.db.close()


def test_delete_for_good_only_from_recently_deleted_and_not_while_a_reply_is_written(db):
    pid, started = this_process()
    with db.session() as s:
        cid = convs.create_conversation(s).id
        q = convs.add_message(s, cid, role="user", content="Tell me a story").id
        convs.add_message(s, cid, role="assistant", parent_id=q, status="streaming", owner_pid=pid,
                          owner_started=started)
    with db.session() as s, pytest.raises(LookupError, match="not in Recently deleted"):
        deleted.delete_for_good(s, cid)
    with db.session() as s:
        convs.delete_conversation(s, cid)
    with db.session() as s:
        # the writer of a live reply would find its row gone: refused, and the purge leaves it for the next start
        with pytest.raises(deleted.ConversationBusyError, match="still being written"):
            deleted.delete_for_good(s, cid)
        s.get(Conversation, cid).deleted_at = utcnow() - timedelta(days=deleted.RECENTLY_DELETED_DAYS + 1)
        assert deleted.purge_deleted(s) == 0
    with db.session() as s:
        s.scalars(select(Message).where(Message.status == "streaming")).one().status = "complete"
    with db.session() as s:
        deleted.delete_for_good(s, cid)
    with db.session() as s:
        assert s.get(Conversation, cid) is None and _count(s, Message) == 0


def test_deleting_the_newest_conversation_never_gives_its_id_again(db):
    with db.session() as s:
        first = convs.create_conversation(s).id
        newest = convs.create_conversation(s).id
        newest_message = convs.add_message(s, newest, role="user", content="hello").id
    with db.session() as s:
        convs.delete_conversation(s, newest)
        deleted.delete_for_good(s, newest)
    with db.session() as s:
        again = convs.create_conversation(s).id
        message = convs.add_message(s, again, role="user", content="hello again").id
    assert first < newest < again
    assert message > newest_message
