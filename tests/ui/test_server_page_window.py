"""The Server tab in the window: a tab of its own, and the status bar saying when the server is on and when it is
open to other computers; clicking either goes to the tab."""

import pytest
from PySide6.QtCore import Qt

from app.ui.app import build_window


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    yield win
    engine.shutdown()


def test_server_is_a_tab_before_settings(window):
    tabs = window.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())][-2:] == ["Server", "Settings"]
    assert tabs.widget(tabs.count() - 2) is window.server_page


def test_the_status_bar_says_when_the_server_is_on_and_goes_to_the_tab(qtbot, window):
    settings, indicator = window.core.settings, window.server_indicator
    assert indicator.isHidden()
    settings.set("server_enabled", True)
    assert indicator.isVisible() and indicator.on_button.text() == "Server on :8760"
    assert indicator.open_warning.isHidden()
    settings.set("server_port", 9002)
    assert indicator.on_button.text() == "Server on :9002"
    assert "http://127.0.0.1:9002/v1" in indicator.on_button.toolTip()
    qtbot.mouseClick(indicator.on_button, Qt.LeftButton)
    assert window.tabs.currentWidget() is window.server_page
    settings.set("server_enabled", False)
    assert indicator.isHidden()


def test_a_non_loopback_address_is_warned_about_in_the_status_bar(qtbot, window):
    settings, indicator = window.core.settings, window.server_indicator
    settings.set("server_host", "0.0.0.0")
    assert indicator.isHidden()  # off: nothing listens there, so nothing to warn about in the bar
    assert window.server_page.exposure.text()  # the page still says what turning it on would mean
    settings.set("server_enabled", True)
    assert indicator.open_warning.isVisible() and "network" in indicator.open_warning.text()
    assert "No API key" in indicator.open_warning.toolTip()
    window.show_settings()
    qtbot.mouseClick(indicator.open_warning, Qt.LeftButton)
    assert window.tabs.currentWidget() is window.server_page
    settings.set("server_host", "127.0.0.1")
    assert indicator.open_warning.isHidden() and indicator.on_button.isVisible()


def test_the_screenshot_replays_recorded_engine_events_into_the_log(window):
    import socket

    from app.ui.server.screenshot_server import recorded_events, show

    with socket.socket() as sock:  # not 8760: the engine really listens, and the test must not need that port free
        sock.bind(("127.0.0.1", 0))
        window.core.settings.set("server_port", sock.getsockname()[1])
    show(window, "server")
    log = window.server_page.log
    assert window.tabs.currentWidget() is window.server_page and window.server_indicator.isVisible()
    assert window.server_page.state_line.text().startswith("On: other apps can use the API")  # applied, answering
    assert log.rowCount() == len(recorded_events()) >= 5
    statuses = {log.index(r, 7).data() for r in range(log.rowCount())}
    assert statuses == {"200", "404"}  # the recording holds answered requests and one for an unknown model
