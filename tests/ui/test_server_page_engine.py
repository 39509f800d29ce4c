"""A real request from the official openai client to the window's engine shows in the Server tab's log, with the
numbers the engine reported to the client; the window's own replies are logged too, marked as the window's."""

import http.server
import socket
import threading

import pytest
from openai import AuthenticationError, OpenAI
from PySide6.QtCore import QPoint, Qt

from app.ui.app import build_window, load_default_model
from tests.helpers.chat_window import send, set_params


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    win.chat.forced_params = {"ignore_eos": True}  # every reply runs to its max tokens
    with qtbot.waitSignal(engine.worker.model_loaded, timeout=90000):
        load_default_model(win)
    yield win
    engine.shutdown()


def test_a_request_from_the_openai_client_and_a_chat_reply_appear_in_the_log(qtbot, window):
    log, endpoint = window.server_page.log, window.engine.supervisor.current()
    client = OpenAI(base_url=endpoint.base_url + "/v1", api_key=endpoint.token, max_retries=0)
    name = client.models.list().data[0].id
    reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}], max_tokens=5,
                                           seed=1)
    qtbot.waitUntil(lambda: log.rowCount() >= 1, timeout=20000)
    row = [log.index(0, c).data() for c in range(log.columnCount())]
    assert row[1].startswith("127.0.0.1:") and row[2] == "chat/completions" and row[3] == name
    assert (row[4], row[5], row[7]) == (str(reply.usage.prompt_tokens), str(reply.usage.completion_tokens), "200")
    assert float(row[6]) > 0

    set_params(window, max_tokens=16, temperature=0.0)  # the form's smallest
    send(qtbot, window, "Hello")
    qtbot.waitUntil(lambda: log.rowCount() >= 2, timeout=20000)
    assert log.index(0, 2).data().startswith("window")
    assert log.index(0, 5).data() == "16"


@pytest.fixture
def bare_window(qtbot, core):
    """The window with its engine started, no model loaded."""
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: engine.supervisor.current() is not None, timeout=90000)
    yield win
    engine.shutdown()


@pytest.fixture
def other_program():
    """Something else answering HTTP on a loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # 501 to all
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_tab_and_the_status_bar_say_what_really_answers_at_the_address(qtbot, bare_window, other_program):
    page, indicator, settings = bare_window.server_page, bare_window.server_indicator, bare_window.core.settings
    settings.set("server_port", _closed_port())
    settings.set("server_enabled", True)
    qtbot.waitUntil(lambda: "nothing serves" in page.state_line.text(), timeout=10000)
    assert indicator.on_button.text().endswith("not serving yet")

    engine_port = int(bare_window.engine.supervisor.current().base_url.rsplit(":", 1)[1])
    settings.set("server_port", engine_port)  # the engine itself answers there, with its own pid
    qtbot.waitUntil(lambda: page.state_line.text().startswith("On: other apps can use"), timeout=10000)
    assert indicator.on_button.text() == f"Server on :{engine_port}"

    settings.set("server_port", other_program)
    qtbot.waitUntil(lambda: "Another program answers" in page.state_line.text(), timeout=10000)
    assert indicator.on_button.text() == f"Server: port {other_program} in use"
    settings.set("server_enabled", False)
    qtbot.waitUntil(lambda: page.state_line.text().startswith("Off: only"), timeout=10000)
    assert indicator.isHidden()


def test_turned_on_and_applied_the_api_answers_on_the_configured_port_with_the_key(qtbot, bare_window):
    page, settings = bare_window.server_page, bare_window.core.settings
    bare_window.show_server()
    port = _closed_port()
    settings.set("server_port", port)
    settings.set("server_api_key", "sk-test-key")
    box = page.editors["server_enabled"]
    qtbot.mouseClick(box, Qt.LeftButton, pos=QPoint(7, box.height() // 2))
    assert settings["server_enabled"] and "restart the engine" in page.apply_note.text()
    qtbot.mouseClick(page.restart_button, Qt.LeftButton)
    url = f"http://127.0.0.1:{port}/v1"
    qtbot.waitUntil(lambda: page.state_line.text() == f"On: other apps can use the API at {url}.", timeout=60000)
    assert bare_window.server_indicator.on_button.text() == f"Server on :{port}"

    client = OpenAI(base_url=page.base_url.text(), api_key="sk-test-key", max_retries=0)
    name = client.models.list().data[0].id
    reply = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
    with pytest.raises(AuthenticationError):
        OpenAI(base_url=url, api_key="wrong", max_retries=0).models.list()
    log = page.log
    qtbot.waitUntil(lambda: log.rowCount() >= 1, timeout=20000)
    assert [log.index(0, c).data() for c in (2, 3, 5, 7)] == ["chat/completions", name,
                                                             str(reply.usage.completion_tokens), "200"]
