"""The Server tab: its fields land in settings.json, the URL and examples are the real ones, Copy copies them, a
non-loopback address is warned about, and the request log shows what the engine reports, bounded."""

import ast
import json
import shlex

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPlainTextEdit

from app import paths
from app.core.engine.backend import LoadedModelInfo
from app.core.settings import Settings
from app.ui.server.server_page import KEY_MASK, ServerPage
from app.ui.settings.settings_events import SettingsEvents


class _Worker(QObject):
    """The two signals the page hears from the engine controller's worker."""

    model_loaded = Signal(object)
    request_logged = Signal(object)


class _Engine:
    def __init__(self):
        self.worker = _Worker()
        self.restarts = 0

    def restart(self) -> None:
        self.restarts += 1


@pytest.fixture
def page(qtbot, core):
    events = SettingsEvents(core.settings)
    engine = _Engine()
    widget = ServerPage(core, engine, events)
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    yield widget
    events.close()


def _type(qtbot, editor, text: str) -> None:
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


def _tick(qtbot, box) -> None:
    """Click a check box on its box, as a person does (its middle may be empty space past the text)."""
    qtbot.mouseClick(box, Qt.LeftButton, pos=QPoint(7, box.height() // 2))


def _saved() -> dict:
    return json.loads(paths.settings_file().read_text(encoding="utf-8"))


def _loaded(name: str) -> LoadedModelInfo:
    return LoadedModelInfo(name=name, path="/models/x.gguf", backend="llama.cpp", n_ctx=2048, template_name="chatml",
                           template_origin="gguf", load_s=0.1)


def test_each_field_edited_as_a_person_would_is_saved(qtbot, page, core):
    e = page.editors
    _tick(qtbot, e["server_enabled"])
    _type(qtbot, e["server_port"], "9123")
    _type(qtbot, e["server_host"], "0.0.0.0")
    _type(qtbot, e["server_api_key"], "sk-typed-key")
    _type(qtbot, e["server_cors_origins"], "http://localhost:3000\nhttps://app.test")
    _tick(qtbot, e["server_keep_api_conversations"])
    _tick(qtbot, e["server_keep_running"])
    expected = {"server_enabled": True, "server_port": 9123, "server_host": "0.0.0.0", "server_api_key": "sk-typed-key",
                "server_cors_origins": ["http://localhost:3000", "https://app.test"],
                "server_keep_api_conversations": True, "server_keep_running": True}
    for key, value in expected.items():
        assert core.settings[key] == value, key
        assert _saved()[key] == value, key
        assert Settings()[key] == value, key  # as the engine reads them when it starts


def test_an_address_that_is_not_one_is_refused_with_a_reason_and_not_saved(qtbot, page, core):
    host = page.editors["server_host"]
    _type(qtbot, host, "my laptop")
    assert page.host_problem.isVisible() and "not an IP address" in page.host_problem.text()
    assert core.settings["server_host"] == "127.0.0.1"
    _type(qtbot, host, "::1")
    assert not page.host_problem.isVisible()
    assert core.settings["server_host"] == "::1" and page.base_url.text() == "http://[::1]:8760/v1"


def test_the_url_and_examples_follow_the_port_the_key_and_the_model(qtbot, page, core):
    assert page.base_url.text() == "http://127.0.0.1:8760/v1"
    _type(qtbot, page.editors["server_port"], "9001")
    core.settings.set("server_api_key", "sk-it's-secret")  # a quote, to prove the shell quoting
    page.engine.worker.model_loaded.emit(_loaded('Tiny "Test" Modèle'))
    url = "http://127.0.0.1:9001/v1"
    assert page.base_url.text() == url

    # What a shell makes of the copied command: line continuations joined, then split into words.
    words = shlex.split(page.curl.copied_text().replace("\\\n", ""))
    assert words[:4] == ["curl", url + "/chat/completions", "-H", "Content-Type: application/json"]
    assert words[4:6] == ["-H", "Authorization: Bearer sk-it's-secret"]
    body = json.loads(words[words.index("-d") + 1])
    assert body["model"] == 'Tiny "Test" Modèle' and body["messages"][0]["role"] == "user"

    call = {kw.arg: ast.literal_eval(kw.value) for node in ast.walk(ast.parse(page.python.copied_text()))
            if isinstance(node, ast.Call) for kw in node.keywords if kw.arg in ("base_url", "api_key", "model")}
    assert call == {"base_url": url, "api_key": "sk-it's-secret", "model": 'Tiny "Test" Modèle'}

    assert 'Modèle' in page.python.shown_text()  # readable, not \u escapes

    # Hidden, the key is masked on screen (and in the examples); shown, it is there as it is.
    assert "sk-it" not in page.python.shown_text() and KEY_MASK in page.curl.shown_text()
    qtbot.mouseClick(page.show_key_button, Qt.LeftButton)
    assert "sk-it's-secret" in page.python.shown_text() and page.show_key_button.text() == "Hide"

    core.settings.set("server_api_key", "")  # no key: the example still runs (the client needs some key)
    assert "Authorization" not in page.curl.copied_text()
    assert "api_key=\"hearth\"" in page.python.copied_text()
    compile(page.python.copied_text(), "example.py", "exec")


def test_copy_puts_the_working_text_on_the_clipboard(qtbot, page, core):
    core.settings.set("server_api_key", "sk-copy-me")
    clipboard = QGuiApplication.clipboard()
    qtbot.mouseClick(page.base_url.copy_button, Qt.LeftButton)
    assert clipboard.text() == "http://127.0.0.1:8760/v1"
    assert page.base_url.copy_button.text() == "Copied"
    page.examples.setCurrentWidget(page.python)
    qtbot.mouseClick(page.copy_example_button, Qt.LeftButton)
    assert clipboard.text() == page.python.copied_text()
    assert "sk-copy-me" in clipboard.text() and "sk-copy-me" not in page.python.shown_text()  # hidden, yet it works
    page.examples.setCurrentWidget(page.curl)
    qtbot.mouseClick(page.copy_example_button, Qt.LeftButton)
    assert clipboard.text() == page.curl.copied_text() and clipboard.text().startswith("curl ")


def test_generate_sets_a_fresh_key_and_shows_it_in_the_field(qtbot, page, core):
    qtbot.mouseClick(page.generate_key_button, Qt.LeftButton)
    first = core.settings["server_api_key"]
    assert first.startswith("hearth-") and len(first) >= 30 and _saved()["server_api_key"] == first
    assert page.editors["server_api_key"].text() == first
    qtbot.mouseClick(page.generate_key_button, Qt.LeftButton)
    assert core.settings["server_api_key"] not in ("", first)


def test_a_non_loopback_address_is_warned_about_on_the_page(qtbot, page, core):
    assert page.exposure.isHidden()
    core.settings.set("server_host", "0.0.0.0")
    assert page.exposure.isVisible() and "No API key is set" in page.exposure.text()
    core.settings.set("server_api_key", "sk-1")
    assert "need the API key" in page.exposure.text()
    assert page.base_url.text() == "http://127.0.0.1:8760/v1"  # this computer reaches a wildcard bind on loopback
    core.settings.set("server_host", "127.0.0.1")
    assert page.exposure.isHidden()


def test_a_change_asks_for_an_engine_restart_that_the_button_makes(qtbot, page, core):
    assert "restart" not in page.apply_note.text().lower()
    core.settings.set("server_enabled", True)
    assert "restart the engine" in page.apply_note.text()
    assert page.restart_button.objectName() == "primaryButton"
    qtbot.mouseClick(page.restart_button, Qt.LeftButton)
    assert page.engine.restarts == 1
    assert "restart" not in page.apply_note.text().lower() and page.restart_button.objectName() == ""


def _event(n: int, status: int = 200) -> dict:
    return {"event": "request", "time": "2026-12-02T10:15:0%dZ" % (n % 10), "client": f"127.0.0.1:{50000 + n}",
            "route": "/v1/chat/completions", "model": "SmolLM2", "prompt_tokens": 10 + n, "completion_tokens": 20,
            "tokens_per_s": 41.25, "status": status}


def test_the_request_log_shows_each_request_newest_first_and_stays_bounded(qtbot, page):
    log = page.log
    page.engine.worker.request_logged.emit(_event(1))
    page.engine.worker.request_logged.emit(_event(2, status=404))
    assert log.rowCount() == 2
    cells = [log.index(0, c).data() for c in range(log.columnCount())]
    assert cells[1:] == ["127.0.0.1:50002", "chat/completions", "SmolLM2", "12", "20", "41.2", "404"]
    assert len(cells[0]) == 8 and cells[0].count(":") == 2  # HH:MM:SS, local time
    assert log.index(0, 7).data(Qt.ForegroundRole) != log.index(1, 7).data(Qt.ForegroundRole)  # a failure stands out
    assert "2 shown" in page.log_hint.text()

    log.max_rows = 5
    for n in range(3, 15):
        page.engine.worker.request_logged.emit(_event(n))
    assert log.rowCount() == 5
    assert [log.index(r, 4).data() for r in range(5)] == ["24", "23", "22", "21", "20"]
    qtbot.mouseClick(page.clear_log_button, Qt.LeftButton)
    assert log.rowCount() == 0 and not page.clear_log_button.isEnabled()


def test_an_odd_event_still_makes_a_row(page):
    page.log_request({"event": "request", "time": None, "prompt_tokens": "many", "status": None})
    assert page.log.rowCount() == 1
    assert [page.log.index(0, c).data() for c in range(page.log.columnCount())] == [""] * 8


def test_keep_serving_applies_as_it_is_and_needs_no_restart(qtbot, page, core):
    core.settings.set("server_keep_running", True)  # read by the window when it closes
    assert "restart" not in page.apply_note.text().lower()
    core.settings.set("server_keep_api_conversations", True)  # read by the engine when it starts
    assert "restart the engine" in page.apply_note.text()


def test_a_restart_is_asked_for_when_what_answers_disagrees_with_the_switch(qtbot, page, core):
    from app.core.local_server import ListenCheck

    core.settings.set("server_enabled", True)
    qtbot.mouseClick(page.restart_button, Qt.LeftButton)
    assert page.restart_button.objectName() == ""
    page._on_checked(page._checks, ListenCheck("closed"))  # the engine came up without the server (a lost restart)
    assert page.restart_button.objectName() == "primaryButton" and "restart the engine" in page.apply_note.text()
    assert "nothing serves" in page.state_line.text()
    page._on_checked(page._checks - 1, ListenCheck("serving"))  # an older check's answer is dropped
    assert "nothing serves" in page.state_line.text()
    page._on_checked(page._checks, ListenCheck("serving"))
    assert page.restart_button.objectName() == "" and page.state_line.text().startswith("On: other apps can use")
