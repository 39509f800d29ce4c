"""The New job form's assistant: the one last trained on the base, and the number its next version gets."""

from datetime import timedelta

from app.core.library.registry import default_model
from app.core.storage.models import Adapter, Model, utcnow
from app.core.training.assistant_names import DEFAULT_ASSISTANT, default_assistant, next_version, version_name


def _adapter(session, base_id, name, assistant=None, version=None, age_s=0):
    session.add(Adapter(name=name, base_model_id=base_id, base_name="base", peft_dir="/nowhere", assistant=assistant,
                        version=version, wins=0, losses=0, notes="", created_at=utcnow() - timedelta(seconds=age_s)))
    session.flush()


def test_a_new_job_continues_the_assistant_last_trained_on_its_base(core):
    with core.db.session() as session:
        base = default_model(session)
        other = Model(name="other", path="/nowhere/other.gguf", format="gguf", source="local", size_bytes=1)
        session.add(other)
        session.flush()
        assert default_assistant(session, base.id) == DEFAULT_ASSISTANT and next_version(session, "x") == 1
        _adapter(session, base.id, "Pirate v1", "Pirate", 1, age_s=300)
        _adapter(session, base.id, "Poet v1", "Poet", 1, age_s=200)
        _adapter(session, other.id, "Chef v1", "Chef", 1, age_s=100)  # newer, but on another base
        assert default_assistant(session, base.id) == "Poet"
        assert default_assistant(session, other.id) == "Chef"
        assert default_assistant(session, None) == DEFAULT_ASSISTANT


def test_the_next_version_follows_the_highest(core):
    with core.db.session() as session:
        base = default_model(session)
        _adapter(session, base.id, "Pirate v1", "Pirate", 1, age_s=30)
        _adapter(session, base.id, "Pirate v2", "Pirate", 2, age_s=20)
        _adapter(session, base.id, "old adapter", age_s=10)  # from before versions: an assistant of its own
        assert next_version(session, "Pirate") == 3 and next_version(session, " Pirate ") == 3
        assert next_version(session, "old adapter") == 2
        assert default_assistant(session, base.id) == "old adapter"
    assert version_name(" Pirate ", 3) == "Pirate v3"
