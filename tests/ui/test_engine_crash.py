"""The window is a client of the engine process, and the engine dying never takes the window down: the reply in
progress is kept (interrupted, with its text), the status bar says what happened with the engine's last lines a
click away, the next request starts a fresh engine, and a model that killed the engine while loading is marked
and not loaded at the next start."""

import os
import shutil
import signal

from PySide6.QtCore import Qt

from app.core.library.registry import find_model, get_model, list_models, register_model
from app.core.storage.models import Message, MessageStatus
from app.service.crash_hooks import ABORT_ON_LOAD
from app.service.lockfile import pid_running
from app.ui.app import build_window, load_default_model
from tests.helpers.chat_window import send, set_params
from tests.helpers.chat_window import window  # noqa: F401 - the fixture


def test_a_reply_streams_through_the_engine_process(qtbot, window):
    engine = window.engine
    assert engine.pid is not None and engine.pid != os.getpid() and pid_running(engine.pid)
    assert not engine.supervisor.joined  # nothing served this fresh data folder: the window started its engine
    set_params(window, max_tokens=16, temperature=0.0)
    batches = []
    engine.worker.token_batch_ready.connect(lambda mid, text: batches.append(text))
    mid, final = send(qtbot, window, "Hi!")
    assert (final.completion_tokens, final.finish_reason) == (16, "length")
    assert "".join(batches) == final.text
    with window.core.db.session() as session:
        message = session.get(Message, mid)
        assert (message.status, message.content) == (MessageStatus.COMPLETE, final.text)


def test_sigkill_of_the_engine_mid_reply_keeps_the_text_and_the_next_reply_works(qtbot, window):
    engine, chat = window.engine, window.chat
    set_params(window, max_tokens=4000, temperature=0.9)
    shown: list[str] = []
    engine.worker.token_batch_ready.connect(lambda mid, text: shown.append(text))
    chat.send("Write a very long story about dragons.")
    qtbot.waitUntil(lambda: len("".join(shown)) > 40, timeout=60000)
    mid, killed = chat.streaming_id, engine.pid
    with qtbot.waitSignal(engine.engine_crashed, timeout=30000) as crashed, \
            qtbot.waitSignal(chat.reply_settled, timeout=30000) as settled:
        os.kill(killed, signal.SIGKILL)
    assert window.isVisible() and settled.args[0] == mid
    with window.core.db.session() as session:
        message = session.get(Message, mid)
        assert message.status == MessageStatus.INTERRUPTED
        assert message.content == "".join(shown)  # every batch that reached the window is kept
    assert "Interrupted" in chat.view.widget_for(mid).notice.text()
    assert chat.composer.button.text() == "Send"

    notice = window.engine_notice
    assert notice.isVisible() and "SIGKILL" in notice.label.full and "engine stopped" in notice.label.full
    assert crashed.args[0] == notice.label.full == notice.label.toolTip()
    notice.details_button.click()
    assert notice.dialog.isVisible() and notice.dialog.text.toPlainText() == crashed.args[1]
    notice.dialog.close()

    set_params(window, max_tokens=16)
    _, final = send(qtbot, window, "Still there?", timeout=120000)  # a fresh engine, the model loaded again
    assert (final.completion_tokens, final.finish_reason) == (16, "length")
    assert engine.pid not in (None, killed) and not pid_running(killed)
    assert not notice.isVisible()


def test_a_model_that_aborts_the_engine_while_loading_is_marked_and_not_loaded_at_the_next_start(
        qtbot, core, starter_path, tmp_path, monkeypatch):
    crasher = tmp_path / "crasher.gguf"
    try:
        os.link(starter_path, crasher)  # a second library entry, same bytes (a symlink would resolve to the starter)
    except OSError:
        shutil.copyfile(starter_path, crasher)
    with core.db.session() as session:
        register_model(session, crasher, name="Crasher", make_default=True)
    with core.db.session() as session:
        crasher_id = find_model(session, "Crasher").id
        starter = next(m for m in list_models(session) if m.id != crasher_id)
    monkeypatch.setenv(ABORT_ON_LOAD, crasher.name)  # read by the engine: it aborts when it loads that file

    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    try:
        with qtbot.waitSignal(engine.engine_crashed, timeout=60000) as crashed:
            load_default_model(win)
        summary, details = crashed.args
        assert "while loading Crasher" in summary and "SIGABRT" in summary
        assert "aborting on purpose" in details  # the engine's own last words
        assert win.isVisible() and win.engine_notice.label.full == summary
        with core.db.session() as session:
            assert get_model(session, crasher_id).load_crashed_at is not None
        library = win.models_tab.library.model
        row = library.row_of(crasher_id)
        assert "crashed the engine" in library.index(row, 0).data()
        assert "crashed the engine while loading" in library.index(row, 0).data(Qt.ToolTipRole)
        win.models_tab.library.select(crasher_id)
        assert "crashed the engine while loading" in win.models_tab.library.details.subtitle.text()

        with qtbot.waitSignal(engine.worker.model_loaded, timeout=120000):  # another model: a fresh engine
            engine.load(starter)
        assert pid_running(engine.pid)
    finally:
        win.close()
        engine.shutdown()

    again, engine = build_window(core)
    qtbot.addWidget(again)
    try:
        load_default_model(again)
        assert "Crasher was not loaded at start" in again.chat.banner.label.text()
        assert "crashed the engine while loading" in again.chat.banner.label.text()
        assert engine._requests == {}  # nothing was asked of the engine
    finally:
        again.close()
        engine.shutdown()
