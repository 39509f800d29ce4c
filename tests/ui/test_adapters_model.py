"""The versions list in the Training tab: the notes are edited in place and stored; names and figures are not
editable; one refresh fills both the assistants list and the versions list."""

from PySide6.QtCore import Qt

from app.core.storage.models import Adapter, utcnow
from app.ui.training.training_models import VersionsModel
from tests.helpers.versions import add_version

NOTES = VersionsModel.COLUMNS.index("Notes")


def test_notes_are_edited_in_place_and_figures_are_not(qtbot, core):
    with core.db.session() as session:
        first = add_version(session, "Pirate", 1, utcnow(), eval_loss_before=3.4, eval_loss_after=0.2, wins=2,
                            losses=1).id
        add_version(session, "Poet", 1, utcnow())
    model = VersionsModel(core.db)
    assert [model.assistants.row_at(r).name for r in range(model.assistants.rowCount())] == ["Poet", "Pirate"]
    assert model.assistant == "Poet", "the newest assistant is shown first"
    model.show_assistant("Pirate")
    row = model.row_of(first)
    notes = model.index(row, NOTES)
    assert model.flags(notes) & Qt.ItemIsEditable
    assert not any(model.flags(model.index(row, c)) & Qt.ItemIsEditable for c in range(NOTES))
    assert model.data(model.index(row, 2)) == "3.400 → 0.200" and model.data(model.index(row, 5)) == "2–1"

    assert model.setData(notes, "  Pirate voice, 16 steps on my corrections ")
    with core.db.session() as session:
        assert session.get(Adapter, first).notes == "Pirate voice, 16 steps on my corrections"
    assert model.assistant == "Pirate", "an edit keeps the assistant on show"
    assert model.data(model.index(model.row_of(first), NOTES)) == "Pirate voice, 16 steps on my corrections"
    assert not model.setData(model.index(row, 0), "v9"), "a version's number is not edited"
