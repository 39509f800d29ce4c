"""The real main window with the starter model loaded, and the two things chat tests do with it: set the
conversation's generation params through the panel's form, and send a message the way a user does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from app.ui.app import build_window, load_default_model


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    # Every reply runs to its max tokens: no test may hang on where the model would choose to stop.
    win.chat.forced_params = {"ignore_eos": True}
    with qtbot.waitSignal(engine.worker.model_loaded, timeout=60000):
        load_default_model(win)
    yield win
    engine.shutdown()


def send(qtbot, win, text, timeout=60000):
    """Type into the composer and press Enter; returns (message id, Finished) once the reply has settled."""
    chat = win.chat
    with qtbot.waitSignal(win.chat.reply_settled, timeout=timeout) as finished:
        chat.composer.edit.setPlainText(text)
        qtbot.keyClick(chat.composer.edit, Qt.Key_Return)
    return finished.args


def set_params(win, **values):
    panel = win.chat.settings_panel
    merged = {**panel.form.values(), **values}
    panel.form.set_values(merged)
    panel._emit()
