"""The adapter registry in the Training tab: names and notes are edited in place and stored."""

from PySide6.QtCore import Qt

from app.core.storage.models import Adapter
from app.ui.training.training_models import AdaptersModel


def _add(core, name: str) -> int:
    with core.db.session() as session:
        row = Adapter(name=name, base_name="SmolLM2", peft_dir="/nowhere", gguf_path=None, eval_loss_before=3.4,
                      eval_loss_after=0.2, wins=2, losses=1)
        session.add(row)
        session.flush()
        return row.id


def test_names_and_notes_are_edited_in_place_and_kept_unique(qtbot, core):
    first = _add(core, "Pirate")
    _add(core, "Poet")
    model = AdaptersModel(core.db)
    row = model.row_of(first)
    notes = model.index(row, 5)
    assert model.flags(notes) & Qt.ItemIsEditable and not model.flags(model.index(row, 2)) & Qt.ItemIsEditable
    assert model.data(model.index(row, 2)) == "3.400 → 0.200" and model.data(model.index(row, 3)) == "2–1"

    assert model.setData(notes, "  Pirate voice, 16 steps on my corrections ")
    with qtbot.waitSignal(model.edit_failed) as failed:
        assert not model.setData(model.index(model.row_of(first), 0), "Poet")
    assert "already called 'Poet'" in failed.args[0]
    assert model.setData(model.index(model.row_of(first), 0), "Captain Ember")
    with core.db.session() as session:
        stored = session.get(Adapter, first)
        assert (stored.name, stored.notes) == ("Captain Ember", "Pirate voice, 16 steps on my corrections")
    assert model.data(model.index(model.row_of(first), 5)) == "Pirate voice, 16 steps on my corrections"
    assert not model.setData(model.index(model.row_of(first), 0), "   "), "an empty name is refused"
