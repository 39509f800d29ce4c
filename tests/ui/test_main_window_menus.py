"""The menu bar: each entry and its shortcut, pressed in the real window, does what it says."""

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence

from app import __version__, paths
from app.core.storage import conversations as convs
from app.ui.app import build_window


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)  # shortcuts reach the active window only
    yield win
    engine.shutdown()


def _press(qtbot, win, key, modifier=Qt.ControlModifier) -> None:
    qtbot.keyClick(win.focusWidget() or win, key, modifier)


def test_menus_follow_the_platform_conventions(window):
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Edit", "&View", "&Help"]
    expected = {
        window.new_chat_action: ("Ctrl+N", QAction.MenuRole.NoRole),
        window.quit_action: ("Ctrl+Q", QAction.MenuRole.QuitRole),
        window.find_action: ("Ctrl+F", QAction.MenuRole.NoRole),
        window.settings_action: ("Ctrl+,", QAction.MenuRole.PreferencesRole),  # the app menu, on macOS
        window.about_action: ("", QAction.MenuRole.AboutRole),
        window.chat_panel_action: ("Ctrl+Shift+S", QAction.MenuRole.NoRole),
    }
    for action, (keys, role) in expected.items():
        assert action.shortcut() == QKeySequence(keys), action.text()
        assert action.menuRole() == role, action.text()


def test_ctrl_n_starts_a_new_chat_from_any_tab(qtbot, window):
    with window.core.db.session() as session:
        conversation = convs.create_conversation(session, title="Older chat")
        convs.add_message(session, conversation.id, role="user", content="Hello")
        conversation_id = conversation.id
    window.chat.open_conversation(conversation_id)
    assert window.chat.conversation_id == conversation_id
    window.show_settings()
    _press(qtbot, window, Qt.Key_N)
    assert window.tabs.currentWidget() is window.chat
    assert window.chat.conversation_id is None


def test_view_menu_hides_and_shows_the_chat_settings_panel(qtbot, window):
    panel = window.chat.settings_panel
    assert window.chat_panel_action.isChecked() and panel.isVisible()
    _press(qtbot, window, Qt.Key_S, Qt.ControlModifier | Qt.ShiftModifier)
    assert not window.chat_panel_action.isChecked() and not panel.isVisible()
    window.chat_panel_action.trigger()
    assert panel.isVisible()


def test_ctrl_f_goes_to_the_conversation_search(qtbot, window):
    window.tabs.setCurrentWidget(window.monitor_tab)
    _press(qtbot, window, Qt.Key_F)
    assert window.tabs.currentWidget() is window.chat
    qtbot.waitUntil(window.chat.sidebar.search.hasFocus)


def test_ctrl_comma_opens_settings(qtbot, window):
    _press(qtbot, window, Qt.Key_Comma)
    assert window.tabs.currentWidget() is window.settings_page


def test_about_names_the_version(qtbot, window):
    window.about_action.trigger()
    box = window.about_box
    qtbot.waitUntil(box.isVisible)
    assert f"Hearth {__version__}" in box.text()
    assert box.textFormat() == Qt.PlainText
    box.close()


class _UrlCatcher(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_open_logs_folder(window):
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        window.open_logs_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert catcher.urls == [QUrl.fromLocalFile(str(paths.logs_dir()))]


def test_ctrl_q_closes_the_window(qtbot, window):
    _press(qtbot, window, Qt.Key_Q)
    qtbot.waitUntil(lambda: not window.isVisible())
