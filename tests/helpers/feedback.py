"""Feedback as a person leaves it in Chat, made through the real storage API (shared by the training form tests)."""

from app.core.storage import conversations as convs

CAPITAL, GOOD, BAD = "What is the capital of France?", "Paris is the capital of France.", "I think it is Lyon."
GREET, PLAIN, PIRATE = "Greet me like a pirate.", "Hello.", "Ahoy, matey! Welcome aboard."
JOKE, FLAT = "Tell me a joke.", "No."
THANKS, WELCOME = "Thanks!", "You are welcome."


def rate_and_regenerate(core) -> None:
    """What a person leaves in Chat after a few minutes: a reply regenerated and the two versions rated ▲ and ▼,
    a reply corrected, a thumbs-down alone and a thumbs-up alone."""
    with core.db.session() as session:
        chat = convs.create_conversation(session)
        u1 = convs.add_message(session, chat.id, role="user", content=CAPITAL)
        bad = convs.add_message(session, chat.id, role="assistant", content=BAD, parent_id=u1.id)
        good = convs.add_message(session, chat.id, role="assistant", content=GOOD, parent_id=u1.id)  # regenerated
        convs.set_feedback(session, bad.id, rating=-1)
        convs.set_feedback(session, good.id, rating=1)
        u2 = convs.add_message(session, chat.id, role="user", content=GREET, parent_id=good.id)
        plain = convs.add_message(session, chat.id, role="assistant", content=PLAIN, parent_id=u2.id)
        convs.set_feedback(session, plain.id, rating=-1, correction=PIRATE)

        other = convs.create_conversation(session)
        u3 = convs.add_message(session, other.id, role="user", content=JOKE)
        flat = convs.add_message(session, other.id, role="assistant", content=FLAT, parent_id=u3.id)
        convs.set_feedback(session, flat.id, rating=-1)
        u4 = convs.add_message(session, other.id, role="user", content=THANKS, parent_id=flat.id)
        welcome = convs.add_message(session, other.id, role="assistant", content=WELCOME, parent_id=u4.id)
        convs.set_feedback(session, welcome.id, rating=1)
