"""What a rating and a correction mean (the rule the correction dialog states)."""

from app.core.chat.feedback import correct_reply, rate_reply
from app.core.storage import conversations as convs


def _reply(core):
    with core.db.session() as s:
        conv = convs.create_conversation(s)
        user = convs.add_message(s, conv.id, role="user", content="Capital of Italy?")
        return convs.add_message(s, conv.id, role="assistant", content="Paris.", parent_id=user.id).id


def test_a_correction_rates_the_original_down_whatever_it_was(core):
    reply = _reply(core)
    for before in (1, 0, -1):
        with core.db.session() as s:
            rate_reply(s, reply, before)
            fb = correct_reply(s, reply, "Rome.")
            assert (fb.rating, fb.correction) == (-1, "Rome."), before


def test_rating_keeps_the_correction_and_an_empty_correction_takes_it_back(core):
    reply = _reply(core)
    with core.db.session() as s:
        correct_reply(s, reply, "Rome.")
        assert (rate_reply(s, reply, 1).rating, rate_reply(s, reply, 1).correction) == (1, "Rome.")
        fb = correct_reply(s, reply, "   ")
        assert (fb.rating, fb.correction) == (1, None)
