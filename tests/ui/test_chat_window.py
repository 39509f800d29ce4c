import subprocess
import sys
import textwrap

from PySide6.QtCore import Qt
from sqlalchemy import select

from app.core.storage import conversations as convs
from app.core.storage.models import Feedback, Message
from app.ui.app import build_window
from app.ui.engine import COALESCE_S
from tests.helpers.chat_window import send as _send
from tests.helpers.chat_window import set_params as _set_params
from tests.helpers.chat_window import window  # noqa: F401 - the fixture


def test_send_streams_text_into_the_view_and_persists_it(qtbot, window):
    _set_params(window, temperature=0.0, max_tokens=40)
    batches = []
    window.engine.worker.token_batch_ready.connect(lambda mid, t: batches.append(t))
    mid, final = _send(qtbot, window, "Tell me a fun fact about owls.")
    assert final.completion_tokens == 40 and "".join(batches) == final.text, "all the text arrives while generating"
    # coalesced: at most one signal per COALESCE_S, plus the last one, however fast or slow the model is
    assert len(batches) <= final.elapsed_s / COALESCE_S + 2, (len(batches), final.elapsed_s)
    widget = window.chat.view.widget_for(mid)
    assert widget.body.markdown == final.text and final.text.strip()
    assert "tok/s" in widget.stats.text()
    with window.core.db.session() as s:
        assert s.get(Message, mid).content == final.text
    assert window.chat.composer.button.text() == "Send"
    assert "context" in window.context_label.text() and "ChatML" in window.model_label.text()


def test_stop_ends_the_reply_and_the_model_keeps_working(qtbot, window):
    _set_params(window, max_tokens=1500, temperature=0.9)
    chat = window.chat
    with qtbot.waitSignal(window.engine.worker.token_batch_ready, timeout=60000):
        chat.composer.edit.setPlainText("Write a very long story about dragons.")
        qtbot.keyClick(chat.composer.edit, Qt.Key_Return)
    assert chat.composer.button.text() == "Stop"
    with qtbot.waitSignal(window.chat.reply_settled, timeout=30000) as done:
        qtbot.mouseClick(chat.composer.button, Qt.LeftButton)
    mid, final = done.args
    assert final.finish_reason == "stopped" and final.completion_tokens < 1500
    with window.core.db.session() as s:
        assert s.get(Message, mid).finish_reason == "stopped"
    _set_params(window, max_tokens=16)
    _, again = _send(qtbot, window, "Thanks!")
    assert (again.completion_tokens, again.finish_reason) == (16, "length")


def test_regenerate_keeps_the_old_reply_as_a_sibling(qtbot, window):
    _set_params(window, max_tokens=24)
    first_id, _ = _send(qtbot, window, "Name a planet.")
    with qtbot.waitSignal(window.chat.reply_settled, timeout=60000) as done:
        window.chat.view.widget_for(first_id).regen_button.click()
    second_id = done.args[0]
    widget = window.chat.view.widget_for(second_id)
    assert widget.message.sibling_ids == (first_id, second_id)
    assert widget.sibling_label.text() == "2/2" and widget.prev_button.isVisible()
    widget.prev_button.click()
    assert window.chat.view.widget_for(first_id) is not None
    assert window.chat.view.widget_for(second_id) is None


def test_edit_and_resend_keeps_the_old_branch(qtbot, window):
    _set_params(window, max_tokens=16)
    first_id, _ = _send(qtbot, window, "Hello")
    user_id = window.chat.view.widget_for(first_id).message.parent_id
    user_widget = window.chat.view.widget_for(user_id)
    user_widget.begin_edit()
    user_widget.editor.setPlainText("Hello again")
    with qtbot.waitSignal(window.chat.reply_settled, timeout=60000):
        user_widget._submit_edit()
    with window.core.db.session() as s:
        thread = convs.thread(s, window.chat.conversation_id)
    assert thread[0].content == "Hello again" and thread[0].sibling_ids == (user_id, thread[0].id)


def test_thumbs_and_correction_are_persisted(qtbot, window):
    _set_params(window, max_tokens=16)
    mid, _ = _send(qtbot, window, "What is the capital of Italy?")
    widget = window.chat.view.widget_for(mid)
    widget.up_button.click()
    with window.core.db.session() as s:
        assert s.scalar(select(Feedback.rating).where(Feedback.message_id == mid)) == 1
    window.chat.save_correction(mid, "The capital of Italy is Rome.")
    with window.core.db.session() as s:
        fb = s.scalar(select(Feedback).where(Feedback.message_id == mid))
        # the correction dialog says the original is saved with a thumbs-down: the database and the screen agree
        assert (fb.rating, fb.correction) == (-1, "The capital of Italy is Rome.")
    widget = window.chat.view.widget_for(mid)
    assert widget.down_button.isChecked() and not widget.up_button.isChecked()
    assert "Your correction" in widget.notice.text()
    widget.up_button.click()  # the user changes their mind about the original: the correction stays
    with window.core.db.session() as s:
        fb = s.scalar(select(Feedback).where(Feedback.message_id == mid))
        assert (fb.rating, fb.correction) == (1, "The capital of Italy is Rome.")
    assert window.chat.view.widget_for(mid).up_button.isChecked()


def test_conversation_survives_closing_and_reopening_the_window(qtbot, core, window):
    _set_params(window, max_tokens=16)
    mid, final = _send(qtbot, window, "Remember the word 'lantern'.")
    conversation_id = window.chat.conversation_id
    window.close()
    window.engine.shutdown()
    reopened, engine = build_window(core)
    qtbot.addWidget(reopened)
    try:
        assert reopened.chat.conversation_id == conversation_id
        assert reopened.chat.view.widget_for(mid).body.markdown == final.text
        assert reopened.chat.conversations.rowCount() == 1
    finally:
        reopened.close()  # stops its threads (the hardware sampler) before the window is destroyed
        engine.shutdown()


def test_search_rename_and_undoable_delete(qtbot, window):
    core = window.core
    with core.db.session() as s:
        for title, body in (("Bread", "sourdough starter tips"), ("Space", "black holes")):
            c = convs.create_conversation(s, title=title)
            convs.add_message(s, c.id, role="user", content=body)
    sidebar = window.chat.sidebar
    sidebar.model.refresh("sourdough")
    assert [sidebar.model.index(r).data() for r in range(sidebar.model.rowCount())] == ["Bread"]
    sidebar.model.refresh("")
    space = next(sidebar.model.id_at(r) for r in range(sidebar.model.rowCount()) if sidebar.model.index(r).data() == "Space")
    sidebar.rename(space, "Astronomy")
    assert "Astronomy" in [sidebar.model.index(r).data() for r in range(sidebar.model.rowCount())]
    sidebar.delete(space)
    assert sidebar.model.row_of(space) == -1 and sidebar.undo_bar.isVisible()
    sidebar.undo_delete()
    assert sidebar.model.row_of(space) >= 0
    sidebar.delete(space)
    sidebar.dismiss_undo()
    with core.db.session() as s:  # in Recently deleted, not gone
        assert convs.get_conversation(s, space).deleted_at is not None


def test_the_app_exits_cleanly_after_streaming(tmp_path):
    # PySide6 6.12.0 aborted at interpreter exit after queued cross-thread signals; the exit status must be 0.
    script = textwrap.dedent(
        """
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        os.environ["HEARTH_HOME"] = sys.argv[1]
        from PySide6.QtCore import QObject, QTimer, Slot
        from PySide6.QtWidgets import QApplication
        from app.core.startup import open_core
        from app.ui.app import build_window, load_default_model
        app = QApplication([])
        core = open_core()
        win, engine = build_window(core)
        win.show()
        load_default_model(win)
        win.chat.settings_panel.form.set_values({**win.chat.settings_panel.form.values(), "max_tokens": 24})
        win.chat.settings_panel._emit()
        win.chat.send("Hello there")

        class Closer(QObject):  # a main-thread receiver, as the app's own slots are
            @Slot(int, object)
            def close(self, *_):
                win.close()  # the user closes the window; the app quits with its last window

        closer = Closer()
        engine.worker.reply_finished.connect(closer.close)
        app.aboutToQuit.connect(engine.shutdown)
        QTimer.singleShot(60000, lambda: app.exit(3))
        code = app.exec()
        print("STREAMED", len(win.chat.view.widgets))
        sys.exit(code)
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "STREAMED 2" in result.stdout


def test_switching_backend_mid_conversation_is_shown_in_the_thread(qtbot, window):
    _set_params(window, max_tokens=16, temperature=0.0)  # the form's smallest
    first_id, _ = _send(qtbot, window, "Hi!")
    panel = window.chat.settings_panel
    with qtbot.waitSignal(window.engine.worker.model_loaded, timeout=120000):
        panel.backend_combo.setCurrentIndex(panel.backend_combo.findData("transformers"))
        panel.flush()
    assert window.engine.status()["loaded_model"]["info"]["backend"] == "transformers"  # the engine switched
    second_id, final = _send(qtbot, window, "Hello again!", timeout=120000)
    assert (final.completion_tokens, final.finish_reason) == (16, "length")
    first, second = window.chat.view.widget_for(first_id), window.chat.view.widget_for(second_id)
    assert first.message.backend == "llama.cpp" and second.message.backend == "transformers"
    assert not first.switch_note.isVisible() and "on transformers" in second.switch_note.text()
    assert "transformers" in window.model_label.text()


def test_open_logs_folder_opens_the_folder_the_logs_are_written_to(qtbot, core, hearth_home, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    from app import paths

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        menus = [a.menu() for a in win.menuBar().actions() if a.menu()]
        assert any(win.open_logs_action in m.actions() for m in menus)
        win.open_logs_action.trigger()
    finally:
        win.close()  # stops its threads (the hardware sampler) before the window is destroyed
        engine.shutdown()
    assert [url.toLocalFile() for url in opened] == [str(paths.logs_dir())]
    assert paths.logs_dir().parent == hearth_home


def test_the_status_bar_shows_the_context_of_the_conversation_on_screen(qtbot, window):
    _set_params(window, max_tokens=16)
    _, final = _send(qtbot, window, "Hello")
    used = final.prompt_tokens + final.completion_tokens
    assert f"context {used} / " in window.context_label.text()
    conversation_id = window.chat.conversation_id
    window.chat.new_chat()
    assert window.context_label.text().startswith("context 0 / ")  # not the last chat's count
    window.chat.open_conversation(conversation_id)
    assert f"context {used} / " in window.context_label.text()
