"""A 1024×680 screen holds the whole window: no tab asks for more room than that screen leaves it."""

import pytest
from PySide6.QtWidgets import QApplication

from app.ui.app import build_window

# A title bar and a window frame take about 40 px of a 680-px screen's height and a few px of its width.
SMALL_SCREEN_CLIENT = (1016, 640)


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    yield win
    engine.shutdown()


def test_every_tab_fits_a_1024_by_680_screen(qtbot, window):
    window.resize(1024, 680)
    window.show()  # a hidden page's layout does not count towards the window's minimum: each is shown in turn
    qtbot.waitExposed(window)
    for index in range(window.tabs.count()):
        window.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        hint = window.minimumSizeHint()
        name = window.tabs.tabText(index)
        assert hint.width() <= SMALL_SCREEN_CLIENT[0], f"{name} needs {hint.width()} px of width"
        assert hint.height() <= SMALL_SCREEN_CLIENT[1], f"{name} needs {hint.height()} px of height"


def test_an_empty_downloads_list_is_only_its_heading(window):
    panel = window.models_tab.downloads_panel
    assert panel.table.isHidden()
    assert "none yet" in panel.title.text()
