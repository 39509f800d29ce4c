"""A real request from the official openai client to the window's engine shows in the Server tab's log, with the
numbers the engine reported to the client; the window's own replies are logged too, marked as the window's."""

import pytest
from openai import OpenAI

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
