"""The window opens no larger than the screen's free area (a small screen with no window manager to shrink it)."""

from app.ui.app import build_window
from app.ui.main_window import PREFERRED_SIZE, fit_to_screen


def test_the_window_opens_within_the_screen(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        assert (win.width(), win.height()) == PREFERRED_SIZE
        free = win.screen().availableGeometry()  # 800 wide offscreen: smaller than the preferred 1280
        fit_to_screen(win)
        assert win.width() <= max(free.width(), win.minimumSizeHint().width())
        assert win.height() <= free.height()
        assert win.width() < PREFERRED_SIZE[0]
    finally:
        engine.shutdown()
        win.close()  # stops the sampler thread before the window goes
