"""Deleting a chat in the window: Undo stays until the next action, Recently deleted restores, a streaming reply
in a deleted chat does not block Send."""

import pytest
from PySide6.QtCore import Qt

from app.core.storage import conversations as convs
from app.core.storage import recently_deleted
from app.core.storage.models import Conversation, Message
from app.ui.app import build_window, load_default_model
from app.ui.chat import recently_deleted as deleted_panel
from app.ui.chat.conversation_list import UNDO_VISIBLE_MS

OLD_TOAST_MS = 8000  # how long Undo used to last before the conversation was gone


@pytest.fixture
def idle_window(qtbot, core):
    """The window without a model loaded: deleting and restoring need none."""
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    yield win
    engine.shutdown()


def _add_chats(core, *titles) -> list[int]:
    ids = []
    with core.db.session() as s:
        for title in titles:
            conv = convs.create_conversation(s, title=title)
            convs.add_message(s, conv.id, role="user", content=f"Something about {title.lower()}")
            ids.append(conv.id)
    return ids


def _listed(sidebar) -> list[int]:
    return [sidebar.model.id_at(r) for r in range(sidebar.model.rowCount())]


def _click_row(qtbot, view, row: int) -> None:
    rect = view.visualRect(view.model().index(row, 0))
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())


def test_undo_outlasts_the_old_toast_and_goes_at_the_next_action(qtbot, idle_window):
    chat, sidebar = idle_window.chat, idle_window.chat.sidebar
    bread, space, tea = _add_chats(idle_window.core, "Bread", "Space", "Tea")
    chat.conversations.refresh()
    _click_row(qtbot, sidebar.view, sidebar.model.row_of(space))
    assert chat.conversation_id == space

    sidebar.delete(space)  # what the context menu's Delete does
    assert space not in _listed(sidebar) and chat.conversation_id is None  # the tab left it for a new chat
    assert sidebar.undo_bar.isVisible()
    # Undo is offered for UNDO_VISIBLE_MS, well past the old toast, and nothing is lost when it ends
    assert UNDO_VISIBLE_MS >= 30_000 > OLD_TOAST_MS
    assert sidebar.undo_timer.isActive() and sidebar.undo_timer.interval() == UNDO_VISIBLE_MS
    qtbot.mouseClick(sidebar.undo_button, Qt.LeftButton)
    assert space in _listed(sidebar) and not sidebar.undo_bar.isVisible()
    assert chat.conversation_id == space  # it was on screen, so Undo brings it back there

    # The next action ends the offer: a new chat, opening another chat, another delete ...
    sidebar.delete(space)
    qtbot.mouseClick(sidebar.new_button, Qt.LeftButton)
    assert not sidebar.undo_bar.isVisible()
    sidebar.delete(tea)
    assert sidebar.undo_bar.isVisible()
    _click_row(qtbot, sidebar.view, sidebar.model.row_of(bread))
    assert not sidebar.undo_bar.isVisible() and chat.conversation_id == bread
    sidebar.delete(bread)
    qtbot.keyClick(idle_window, Qt.Key_N, Qt.ControlModifier)  # File > New chat
    assert not sidebar.undo_bar.isVisible()
    # ... or the time running out (driven here, not waited for)
    _add_chats(idle_window.core, "Soup")
    chat.conversations.refresh()
    soup = _listed(sidebar)[0]
    sidebar.delete(soup)
    sidebar.undo_timer.timeout.emit()
    assert not sidebar.undo_bar.isVisible() and _listed(sidebar) == []
    with idle_window.core.db.session() as s:  # all four wait in Recently deleted
        assert [r.id for r in recently_deleted.list_deleted(s)] == [soup, bread, tea, space]


def test_recently_deleted_restores_and_deletes_for_good(qtbot, idle_window, monkeypatch):
    chat, sidebar = idle_window.chat, idle_window.chat.sidebar
    bread, space = _add_chats(idle_window.core, "Bread", "Space")
    chat.conversations.refresh()
    assert not sidebar.deleted_button.isEnabled() and sidebar.deleted_button.text() == "Recently deleted"
    sidebar.delete(bread)
    sidebar.delete(space)
    assert sidebar.deleted_button.isEnabled() and "(2)" in sidebar.deleted_button.text()

    assert sidebar.undo_bar.isVisible()  # for Space
    qtbot.mouseClick(sidebar.deleted_button, Qt.LeftButton)
    panel = sidebar.deleted_panel
    assert sidebar.pages.currentWidget() is panel and not sidebar.search.isVisible()
    rows = [panel.model.index(r).data() for r in range(panel.model.rowCount())]
    assert rows == ["Space", "Bread"]  # the most recently deleted first
    assert "30 days left" in panel.model.index(0).data(deleted_panel.SNIPPET_ROLE)
    assert not panel.restore_button.isEnabled()  # nothing chosen yet
    _click_row(qtbot, panel.view, panel.model.row_of(bread))
    qtbot.mouseClick(panel.restore_button, Qt.LeftButton)
    assert _listed(sidebar) == [bread] and "(1)" not in sidebar.deleted_button.text()
    assert sidebar.pages.currentWidget() is panel  # Space is still there to deal with
    assert not sidebar.undo_bar.isVisible()  # restoring here was the next action

    asked = []
    monkeypatch.setattr(deleted_panel, "confirm", lambda _parent, _title, text: asked.append(text) or True)
    _click_row(qtbot, panel.view, panel.model.row_of(space))
    qtbot.mouseClick(panel.delete_button, Qt.LeftButton)
    assert asked and "Space" in asked[0] and "cannot be undone" in asked[0]
    assert panel.model.rowCount() == 0 and panel.empty_hint.isVisible()
    with idle_window.core.db.session() as s:
        assert s.get(Conversation, space) is None
        assert s.get(Conversation, bread).deleted_at is None
    qtbot.mouseClick(sidebar.deleted_button, Qt.LeftButton)  # back to the list
    assert sidebar.pages.currentIndex() == 0 and sidebar.search.isVisible()
    assert not sidebar.deleted_button.isEnabled()


def test_deleting_the_chat_whose_reply_streams_stops_it_and_send_still_works(qtbot, idle_window):
    win, chat = idle_window, idle_window.chat
    chat.forced_params = {"ignore_eos": True}
    with qtbot.waitSignal(win.engine.worker.model_loaded, timeout=60000):
        load_default_model(win)
    panel = chat.settings_panel
    panel.form.set_values({**panel.form.values(), "max_tokens": 1500})
    panel._emit()
    with qtbot.waitSignal(win.engine.worker.token_batch_ready, timeout=60000):
        chat.composer.edit.setPlainText("Write a very long story about dragons.")
        qtbot.keyClick(chat.composer.edit, Qt.Key_Return)
    streaming_in, reply = chat.conversation_id, chat.streaming_id
    with qtbot.waitSignal(chat.reply_settled, timeout=30000) as settled:
        chat.sidebar.delete(streaming_in)
    assert settled.args[0] == reply and settled.args[1].finish_reason == "stopped"
    assert chat.composer.button.text() == "Send" and chat.sidebar.undo_bar.isVisible()

    panel.form.set_values({**panel.form.values(), "max_tokens": 16})
    panel._emit()
    with qtbot.waitSignal(chat.reply_settled, timeout=60000) as done:
        chat.composer.edit.setPlainText("Hello again.")
        qtbot.keyClick(chat.composer.edit, Qt.Key_Return)
    assert done.args[1].completion_tokens == 16
    assert chat.conversation_id > streaming_in  # a new chat, never the deleted one's id
    assert not chat.sidebar.undo_bar.isVisible()  # sending was the next action
    with win.core.db.session() as s:  # the stopped reply kept its text, in Recently deleted
        stopped = s.get(Message, reply)
        assert stopped.finish_reason == "stopped" and stopped.content.strip()
        assert s.get(Conversation, streaming_in).deleted_at is not None
