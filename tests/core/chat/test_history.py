from app.core.chat.reply import history
from app.core.chat.turns import start_regenerate
from app.core.storage import conversations as convs
from app.core.storage.models import MessageStatus
from app.core.training.examples import from_conversations


def _branch_with_failed_replies(session):
    """A branch as the chat leaves it after a reply failed half-way and another came back empty."""
    conv = convs.create_conversation(session, system_prompt="You are terse.")
    u1 = convs.add_message(session, conv.id, role="user", content="Capital of France?")
    failed = convs.add_message(session, conv.id, role="assistant", content="Par", parent_id=u1.id,
                               status=MessageStatus.ERROR, error="The reply failed: out of memory")
    u2 = convs.add_message(session, conv.id, role="user", content="Capital of France, please?", parent_id=failed.id)
    empty = convs.add_message(session, conv.id, role="assistant", content="  ", parent_id=u2.id)
    u3 = convs.add_message(session, conv.id, role="user", content="And of Italy?", parent_id=empty.id)
    rated = convs.add_message(session, conv.id, role="assistant", content="Rome.", parent_id=u3.id)
    convs.set_feedback(session, rated.id, rating=1)
    return rated.id


def test_chat_history_and_training_example_show_the_model_the_same_messages(core):
    with core.db.session() as session:
        rated_id = _branch_with_failed_replies(session)
    chat = [(m.role, m.content) for m in history(core.db, start_regenerate(core.db, rated_id))]
    with core.db.session() as session:
        (example,) = from_conversations(session).examples
    trained = [(t.role, t.content) for t in example.turns[:-1]]
    assert chat == trained == [
        ("system", "You are terse."), ("user", "Capital of France?"), ("user", "Capital of France, please?"),
        ("user", "And of Italy?")]
    assert example.turns[-1].content == "Rome." and example.turns[-1].train
