"""The Settings tab: each setting edited as a person would lands in settings.json, in core and where it is used."""

import json

import pytest
from PySide6.QtCore import QObject, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QAbstractSpinBox, QPlainTextEdit

from app import paths
from app.core.settings import ON_NEXT_LOAD, SETTINGS_PAGE_SECTIONS, Settings
from app.ui.app import build_window, load_default_model


PAGE_OPTIONS = tuple(o for _title, _when, options in SETTINGS_PAGE_SECTIONS for o in options)
PAGE_KEYS = tuple(o.key for o in PAGE_OPTIONS)


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    win.show_settings()
    yield win
    engine.shutdown()


def _editor(win, key):
    return win.settings_page.forms[key].editors[key]


def _type(qtbot, editor, text: str) -> None:
    """Select what the box shows, type over it and, in a number box, press Enter, as a person would."""
    editor.setFocus()
    editor.selectAll()
    if isinstance(editor, QPlainTextEdit):
        lines = text.split("\n")
        qtbot.keyClicks(editor, lines[0])
        for line in lines[1:]:
            qtbot.keyClick(editor, Qt.Key_Return)
            qtbot.keyClicks(editor, line)
        return
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Qt.Key_Return)


def _saved() -> dict:
    return json.loads(paths.settings_file().read_text(encoding="utf-8"))


def test_settings_is_the_last_tab(window):
    assert window.tabs.tabText(window.tabs.count() - 1) == "Settings"
    assert window.tabs.currentWidget() is window.settings_page


def test_each_setting_changed_on_the_page_is_saved_and_used(qtbot, window):
    core = window.core
    threads = 3 if core.settings["n_threads"] != 3 else 2
    new = {"n_threads": threads, "context_length": 8192, "gpu_layers": -1, "low_memory_warning_mb": 2048,
           "default_system_prompt": "Answer in one line.\nBe kind.", "train_nudge_after": 30,
           "train_when_idle": True}
    assert set(new) == set(PAGE_KEYS)  # a setting added to the declaration is added here too
    for key, value in new.items():
        if isinstance(value, bool):  # a switch is clicked
            _editor(window, key).click()
        else:
            _type(qtbot, _editor(window, key), str(value))
        assert core.settings[key] == value, key
        assert _saved()[key] == value, key
    assert Settings().as_dict() == {**core.settings.as_dict(), **new}  # read back as the next start reads it
    with qtbot.waitSignal(window.engine.worker.model_loaded, timeout=60000) as loaded:  # the next load uses them
        window.settings_page.reload_button.click()
    assert loaded.args[0].n_ctx == 8192
    assert window.monitor_tab.floor.value() == 2048


def test_invalid_values_cannot_be_entered(qtbot, window):
    core = window.core
    for option in PAGE_OPTIONS:
        editor = _editor(window, option.key)
        if option.kind is int:  # the box holds the declared range and nothing else
            assert isinstance(editor, QAbstractSpinBox)
            assert (editor.minimum(), editor.maximum()) == (option.minimum, option.maximum), option.key
    threads = _editor(window, "n_threads")
    before = core.settings["n_threads"]
    _type(qtbot, threads, "abc")
    assert threads.value() == before and core.settings["n_threads"] == before
    _type(qtbot, threads, "999")  # above the maximum of 256: the last digit is refused
    assert 1 <= core.settings["n_threads"] <= 256 and core.settings["n_threads"] == threads.value() == 99
    context = _editor(window, "context_length")
    _type(qtbot, context, "100")  # below the minimum: the box goes back to what it held
    assert context.value() == core.settings["context_length"] == 4096
    with pytest.raises(ValueError, match="CPU threads"):
        core.settings.set("n_threads", "lots")
    assert _saved()["n_threads"] == 99


def test_the_monitor_and_the_page_agree_both_ways(qtbot, window):
    page_floor, monitor_floor = _editor(window, "low_memory_warning_mb"), window.monitor_tab.floor
    _type(qtbot, page_floor, "3072")
    assert monitor_floor.value() == 3072
    monitor_floor.setFocus()
    monitor_floor.selectAll()
    qtbot.keyClicks(monitor_floor, "1024")
    qtbot.keyClick(monitor_floor, Qt.Key_Return)
    assert page_floor.value() == 1024
    assert window.core.settings["low_memory_warning_mb"] == _saved()["low_memory_warning_mb"] == 1024


class _UrlCatcher(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_the_data_folder_is_shown_and_opens(qtbot, window, hearth_home):
    page = window.settings_page
    assert page.data_folder.text() == str(hearth_home)
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        qtbot.mouseClick(page.open_data_button, Qt.LeftButton)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert catcher.urls == [QUrl.fromLocalFile(str(hearth_home))]


def test_reload_model_now_applies_a_load_setting(qtbot, window):
    page, worker = window.settings_page, window.engine.worker
    assert not page.reload_button.isVisible()  # nothing loaded, nothing to reload
    with qtbot.waitSignal(worker.model_loaded, timeout=60000):
        load_default_model(window)
    qtbot.waitUntil(lambda: page.loaded is not None)  # the page's own queued slot, after the test's
    assert page.reload_button.isVisible() and page.load_note.text() == ON_NEXT_LOAD
    _type(qtbot, _editor(window, "context_length"), "1024")
    assert page.load_note.text().startswith("Changed")
    with qtbot.waitSignal(worker.model_loaded, timeout=60000) as loaded:
        qtbot.mouseClick(page.reload_button, Qt.LeftButton)
    assert loaded.args[0].n_ctx == 1024
    qtbot.waitUntil(lambda: page.loaded_info is loaded.args[0])
    assert page.load_note.text() == ON_NEXT_LOAD and page.reload_button.isVisible()


def test_a_new_default_system_prompt_reaches_the_new_chat_on_screen(qtbot, window):
    window.chat.new_chat()
    window.core.settings.set("default_system_prompt", "You answer like a ship's captain.")
    assert window.chat.settings_panel.system_prompt.toPlainText() == "You answer like a ship's captain."
    window.chat.settings_panel.system_prompt.setPlainText("My own prompt for this chat.")
    window.chat.settings_panel.flush()
    window.core.settings.set("default_system_prompt", "Something else.")
    assert window.chat.settings_panel.system_prompt.toPlainText() == "My own prompt for this chat.", "the user's own wins"
