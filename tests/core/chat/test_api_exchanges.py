"""API exchanges kept as conversations: hidden from the chat list, rated by completion id, a training source."""

import pytest

from app.core.chat.api_exchanges import message_for_completion, rate_completion, start_exchange
from app.core.chat.reply import ReplyWriter
from app.core.engine.backend import ChatMessage
from app.core.engine.params import GenerationParams
from app.core.library.registry import default_model
from app.core.storage import conversations as convs
from app.core.storage.models import MessageStatus
from app.core.training.dataset import DatasetSpec, collect
from app.core.training.examples import from_conversations, rated_api_replies, rated_conversations


def _exchange(core, reply="Rome."):
    with core.db.session() as s:
        model = default_model(s)
    messages = [ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of Italy?")]
    reply_id, completion_id = start_exchange(core.db, model, None, messages, GenerationParams(seed=3))
    writer = ReplyWriter(core.db, reply_id)
    writer.add(reply)
    writer.save(status=MessageStatus.COMPLETE, owner_pid=None)
    return reply_id, completion_id


def _chat(core):
    with core.db.session() as s:
        conv = convs.create_conversation(s)
        user = convs.add_message(s, conv.id, role="user", content="Capital of France?")
        return convs.add_message(s, conv.id, role="assistant", content="Paris.", parent_id=user.id).id


def test_an_exchange_is_stored_as_a_thread_and_stays_out_of_the_chat_list_and_search(core):
    reply_id, completion_id = _exchange(core)
    chat_reply = _chat(core)
    with core.db.session() as s:
        message = message_for_completion(s, completion_id)
        assert message.id == reply_id and message.content == "Rome."
        assert [m.content for m in convs.lineage(s, reply_id)] == ["Capital of Italy?", "Rome."]
        assert message.conversation.system_prompt == "Be brief."
        listed = convs.list_conversations(s)
        assert [c.id for c in listed] == [s.get(type(message), chat_reply).conversation_id]
        assert convs.search_conversations(s, "Italy") == []


def test_a_completion_id_finds_only_its_own_kept_reply(core):
    reply_id, completion_id = _exchange(core)
    with core.db.session() as s:
        assert message_for_completion(s, f"chatcmpl-h{reply_id}-0000") is None  # a guessed id
        assert message_for_completion(s, "chatcmpl-0123abcd") is None  # an id of a reply that was not kept
        assert message_for_completion(s, "nonsense") is None
    with pytest.raises(LookupError, match="Keep API conversations"):
        rate_completion(core.db, "chatcmpl-0123abcd", 1)


def test_rated_exchanges_are_their_own_training_source_next_to_rated_chats(core):
    _reply_id, up = _exchange(core)
    _other, corrected = _exchange(core, reply="Milan.")
    chat_reply = _chat(core)
    rate_completion(core.db, up, 1)
    rate_completion(core.db, corrected, 1, correction="Rome, not Milan.")
    with core.db.session() as s:
        from app.core.chat.feedback import rate_reply

        rate_reply(s, chat_reply, 1)
    with core.db.session() as s:
        api = from_conversations(s, api=True)
        chats = from_conversations(s)
        assert sorted(e.turns[-1].content for e in api.examples) == ["Rome, not Milan.", "Rome."]
        assert {e.source for e in api.examples} == {"API exchanges"}
        assert [e.turns[-1].content for e in chats.examples] == ["Paris."]
        assert api.examples[0].turns[0].content == "Be brief."  # the system prompt is context, as in a chat
        assert rated_api_replies(s) == 2 and len(rated_conversations(s)) == 1
        both = collect(DatasetSpec(conversations=True, api_conversations=True), s)
        assert len(both.examples) == 3
        assert len(collect(DatasetSpec(), s).examples) == 1  # off unless asked
