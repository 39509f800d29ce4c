"""The thread always fits its viewport: every message's actions can be seen and clicked, in a big and a small
window, with the settings panel shown and collapsed; the panel's state survives a restart; the model picker
shortens a long name in the middle. Real window, real replies."""

from contextlib import contextmanager

from PySide6.QtCore import QCoreApplication, QPoint, QRect, Qt

from app import paths
from app.ui.app import build_window
from tests.helpers.chat_window import send, set_params
from tests.helpers.chat_window import window  # noqa: F401 - the fixture

SIZES = ((1600, 1000), (1024, 680))


def _in_viewport(widget, viewport) -> QRect:
    return QRect(widget.mapTo(viewport, QPoint(0, 0)), widget.size())


def clipping(view) -> list[str]:
    """Everything in the thread a reader could not see whole: empty when the thread fits its viewport. Scrolls
    (vertically only) to each message's actions, as a reader would, before looking."""
    viewport, content = view.viewport(), view.widget()
    problems = []
    if content.width() > viewport.width() or view.horizontalScrollBar().maximum() > 0:
        problems.append(f"the thread is {content.width()} px wide in a {viewport.width()} px viewport")
    bar = view.verticalScrollBar()
    for mid, card in view.widgets.items():
        body = card.body
        if body.document().size().width() > body.viewport().width() + 1:
            problems.append(f"message {mid}: its text is wider than its box")
        buttons = [b for b in card.actions + [card.prev_button, card.next_button] if b.isVisibleTo(card)]
        for button in buttons:
            bar.setValue(button.mapTo(content, QPoint(0, 0)).y() - viewport.height() // 2)
            for what, widget in ((repr(button.text()), button), ("its text", body)):
                rect = _in_viewport(widget, viewport)
                if rect.left() < 0 or rect.right() > viewport.rect().right():
                    problems.append(f"message {mid}: {what} spans x {rect.left()}..{rect.right()}, the viewport "
                                    f"0..{viewport.rect().right()}")
            rect = _in_viewport(button, viewport)
            if not viewport.rect().contains(rect):
                problems.append(f"message {mid}: {button.text()!r} at {rect.getRect()} is outside the viewport "
                                f"{viewport.rect().getRect()}")
            if button.width() < button.sizeHint().width():
                problems.append(f"message {mid}: {button.text()!r} is squeezed to {button.width()} px")
    return problems


def panel_problems(win) -> list[str]:
    chat = win.chat
    panel, view = chat.settings_panel, chat.view
    problems = []
    if panel.isVisible():
        if panel.widget().width() > panel.viewport().width():
            problems.append(f"the settings form is {panel.widget().width()} px wide in {panel.viewport().width()} px")
        right = panel.mapTo(win, QPoint(panel.width(), 0)).x()
        if right > chat.settings_rail.mapTo(win, QPoint(0, 0)).x():
            problems.append("the settings panel runs under the rail")
        if view.mapTo(win, QPoint(view.width(), 0)).x() > panel.mapTo(win, QPoint(0, 0)).x():
            problems.append("the thread runs under the settings panel")
    rail_button = chat.settings_rail.button
    if not win.rect().contains(QRect(rail_button.mapTo(win, QPoint(0, 0)), rail_button.size())):
        problems.append("the button that shows and hides the settings panel is off the window")
    return problems


def settle(qtbot, check) -> list[str]:
    """Layout runs in posted events: give it a moment to settle, then report what is still wrong."""
    try:
        qtbot.waitUntil(lambda: not check(), timeout=5000)
    except Exception:  # noqa: BLE001 - the assertion below says what is wrong
        pass
    return check()


def test_every_action_stays_in_the_viewport_at_both_sizes_with_the_panel_shown_and_collapsed(qtbot, window):
    chat = window.chat
    window.resize(1600, 1000)
    set_params(window, max_tokens=64, temperature=0.8, seed=3)
    for n in range(5):
        last_id, _ = send(qtbot, window, f"Tell me something about the number {n}, in detail please.")
    with qtbot.waitSignal(chat.reply_settled, timeout=60000) as regenerated:
        chat.view.widget_for(last_id).regen_button.click()
    second_id = regenerated.args[0]
    versions = chat.view.widget_for(second_id)
    assert versions.sibling_label.text() == "2/2" and versions.prev_button.isVisible()
    assert len(chat.view.widgets) == 10

    for width, height in SIZES:
        window.resize(width, height)
        for collapsed in (False, True):
            if chat.settings_panel.isVisible() == collapsed:  # through the real button, as a user does
                qtbot.mouseClick(chat.settings_rail.button, Qt.LeftButton)
            assert chat.settings_panel.isVisible() is not collapsed
            where = f"{width}x{height}, panel {'collapsed' if collapsed else 'shown'}"
            assert settle(qtbot, lambda: clipping(chat.view) + panel_problems(window)) == [], where
            assert chat.view.verticalScrollBar().maximum() > 0, f"{where}: the thread should scroll"


@contextmanager
def opened_window(qtbot, core, size=(1280, 800)):
    """A window without a loaded model, shown, and closed again (its threads stopped) however the test ends."""
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.resize(*size)
    win.show()
    try:
        yield win
    finally:
        win.close()
        engine.shutdown()
        QCoreApplication.processEvents()  # what the window still had queued runs while it exists


def test_the_settings_panel_stays_collapsed_after_a_restart(qtbot, core, hearth_home):
    with opened_window(qtbot, core) as win:
        assert win.chat.settings_panel.isVisible()  # shown on a first start
        qtbot.mouseClick(win.chat.settings_rail.button, Qt.LeftButton)
        assert not win.chat.settings_panel.isVisible() and not win.chat.settings_panel_action.isChecked()
    assert paths.ui_state_file().is_file() and paths.ui_state_file().parent == hearth_home  # the data folder
    with opened_window(qtbot, core) as again:
        assert not again.chat.settings_panel.isVisible()
        again.chat.settings_panel_action.trigger()  # the menu's way to show it again
        assert again.chat.settings_panel.isVisible()
    with opened_window(qtbot, core) as third:
        assert third.chat.settings_panel.isVisible()


def test_the_model_picker_elides_in_the_middle_and_tells_the_whole_name(qtbot, core):
    with opened_window(qtbot, core, (1024, 680)) as win:
        picker, panel = win.chat.settings_panel.model_combo, win.chat.settings_panel
        name = picker.currentText()
        assert name.endswith("(default)") and len(name) > 30
        qtbot.waitUntil(lambda: picker.width() < picker.sizeHint().width())  # the small window's narrow panel
        shown = picker.displayed_text()
        assert "…" in shown and shown.endswith("(default)") and shown[:7] == name[:7]  # both ends kept
        assert picker.toolTip().splitlines()[0] == name
        assert picker.itemData(picker.currentIndex(), Qt.ToolTipRole).splitlines()[0] == name
        win.resize(1600, 1000)
        qtbot.waitUntil(lambda: picker.displayed_text() == name)  # a big window's panel fits the whole name
        assert picker.width() >= picker.sizeHint().width()
        assert panel.widget().width() <= panel.viewport().width()
