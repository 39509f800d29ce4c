"""The Adapters page as assistants and their versions: v3, v2, v1 with eval loss, preference accuracy and A/B
record; one click on a version's Use picks it for the chat, the version in use is marked, and an older version's
Use rolls back. Adapter rows are written straight into a real database: nothing is trained."""

from datetime import timedelta

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from app.core.storage.models import Adapter, Conversation, utcnow
from app.ui.models_list import ModelListModel
from app.ui.training import training_tab as training_tab_module
from app.ui.training.training_models import BUTTON_ENABLED_ROLE, IN_USE, VersionsModel
from app.ui.training.training_tab import TrainingTab
from tests.helpers.versions import add_version

ADAPTERS = 2
HOUR = timedelta(hours=1)
COLUMN = {name: i for i, name in enumerate(VersionsModel.COLUMNS)}


def _three_versions(core) -> dict[int, int]:
    now = utcnow()
    with core.db.session() as session:
        ids = {
            1: add_version(session, "Pirate", 1, now - 3 * HOUR, eval_loss_before=3.1, eval_loss_after=2.0).id,
            2: add_version(session, "Pirate", 2, now - 2 * HOUR, eval_loss_before=3.1, eval_loss_after=1.5,
                           wins=1, losses=2).id,
            3: add_version(session, "Pirate", 3, now - HOUR, eval_loss_before=3.1, eval_loss_after=1.2, pref_pairs=6,
                           pref_accuracy_before=0.5, pref_accuracy_after=0.83, pref_margin_before=0.0,
                           pref_margin_after=1.4, wins=3, losses=1).id,
        }
        add_version(session, None, None, now - 4 * HOUR, name="Old style adapter")
    return ids


@pytest.fixture
def tab(qtbot, core):
    widget = TrainingTab(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitUntil(lambda: widget.pages is not None)
    widget.pages.setCurrentIndex(ADAPTERS)
    yield widget
    widget.shutdown()


def _cell(tab, row: int, column: str) -> str:
    return tab.adapters.data(tab.adapters.index(row, COLUMN[column]))


def _click_use(qtbot, tab, row: int) -> None:
    view = tab.adapters_view
    rect = view.visualRect(tab.adapters.index(row, VersionsModel.USE))
    assert rect.isValid() and view.viewport().rect().contains(rect), "the Use button is on screen"
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())


def test_an_assistants_versions_are_listed_newest_first_with_their_figures(tab, core):
    _three_versions(core)
    tab.adapters.refresh()
    page = tab.assistants_page
    assert [page.assistants.row_at(r).name for r in range(page.assistants.rowCount())] == ["Pirate",
                                                                                           "Old style adapter"]
    assert page.assistants.data(page.assistants.index(0)) == "Pirate\n3 versions · latest v3"
    assert page.assistants_view.currentIndex().row() == 0, "the newest assistant is shown"
    assert page.title.text() == "Pirate" and page.facts.text().startswith("3 versions on ")
    assert [_cell(tab, r, "Version") for r in range(3)] == ["v3", "v2", "v1"]
    assert (_cell(tab, 0, "Eval loss"), _cell(tab, 0, "Preferences"), _cell(tab, 0, "Margin"),
            _cell(tab, 0, "A/B")) == ("3.100 → 1.200", "50% → 83%", "+0.00 → +1.40", "3–1")
    assert (_cell(tab, 1, "Preferences"), _cell(tab, 1, "A/B")) == ("—", "1–2")
    assert "6 held-out pairs" in tab.adapters.data(tab.adapters.index(0, COLUMN["Margin"]), Qt.ToolTipRole)

    page.assistants_view.setCurrentIndex(page.assistants.index(1))  # the other assistant
    assert [_cell(tab, r, "Version") for r in range(tab.adapters.rowCount())] == ["v1"]
    assert page.title.text() == "Old style adapter"
    tab.adapters.refresh()
    assert page.title.text() == "Old style adapter", "a refresh keeps the assistant on show"


def test_one_click_on_use_picks_a_version_and_an_older_ones_rolls_back(tab, core, qtbot):
    ids = _three_versions(core)
    tab.adapters.refresh()
    QApplication.processEvents()
    with qtbot.waitSignal(tab.use_adapter_requested) as used:
        _click_use(qtbot, tab, 0)
    assert used.args == [ids[3]], "no row had to be selected first"
    tab.set_adapter_in_use("Pirate v3")  # what the chat says after it took the version
    assert _cell(tab, 0, "") == IN_USE and _cell(tab, 1, "") == "Use"
    assert not tab.adapters.data(tab.adapters.index(0, VersionsModel.USE), BUTTON_ENABLED_ROLE)
    assert tab.adapters.data(tab.adapters.index(0, VersionsModel.VERSION), Qt.FontRole).bold()
    assert tab.adapters.data(tab.adapters.index(1, VersionsModel.VERSION), Qt.FontRole) is None
    assert "v3 in use" in tab.assistants_page.assistants.data(tab.assistants_page.assistants.index(0))
    with qtbot.assertNotEmitted(tab.use_adapter_requested):
        _click_use(qtbot, tab, 0)  # the version in use has nothing to do

    with qtbot.waitSignal(tab.use_adapter_requested) as used:
        _click_use(qtbot, tab, 2)  # roll back to v1
    assert used.args == [ids[1]]
    tab.set_adapter_in_use("Pirate v1")
    assert _cell(tab, 2, "") == IN_USE and _cell(tab, 0, "") == "Use"
    assert "answers through v1" in tab.assistants_page.facts.text() and "v3 is newer" in \
        tab.assistants_page.facts.text()


def test_the_buttons_act_on_the_selected_version(tab, core, qtbot, monkeypatch):
    ids = _three_versions(core)
    tab.adapters.refresh()
    assert not any(b.isEnabled() for b in tab.adapter_buttons)
    tab.adapters_view.selectRow(1)
    assert all(b.isEnabled() for b in tab.adapter_buttons)
    use, _compare, _export, remove = tab.adapter_buttons
    with qtbot.waitSignal(tab.use_adapter_requested) as used:
        use.click()
    assert used.args == [ids[2]]
    monkeypatch.setattr(training_tab_module, "confirm", lambda *_a: True)
    remove.click()
    with core.db.session() as session:
        assert session.get(Adapter, ids[2]) is None
    assert [_cell(tab, r, "Version") for r in range(tab.adapters.rowCount())] == ["v3", "v1"]


def test_use_in_the_window_answers_through_the_version_and_marks_it(qtbot, core):
    from app.ui.app import build_window

    ids = _three_versions(core)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        win.show()
        win.tabs.setCurrentWidget(win.training_tab)
        tab = win.training_tab
        qtbot.waitUntil(lambda: tab.pages is not None)
        tab.pages.setCurrentIndex(ADAPTERS)
        QApplication.processEvents()
        _click_use(qtbot, tab, 1)  # v2
        assert win.tabs.currentWidget() is win.chat
        with core.db.session() as session:
            conversation = session.get(Conversation, win.chat.conversation_id)
            assert conversation.params["adapter_id"] == ids[2]
        assert _cell(tab, 1, "") == IN_USE, "the chat said which version it answers through"

        win.tabs.setCurrentWidget(tab)
        QApplication.processEvents()
        _click_use(qtbot, tab, 2)  # roll back to v1: one click
        with core.db.session() as session:
            assert session.get(Conversation, win.chat.conversation_id).params["adapter_id"] == ids[1]
        assert _cell(tab, 2, "") == IN_USE and _cell(tab, 1, "") == "Use"
    finally:
        engine.shutdown()
        win.close()
