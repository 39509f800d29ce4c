import subprocess
import sys

import psutil
import pytest

from app.core.library.registry import ModelRef, register_model
from app.core.library.sample_gguf import write_tiny_gguf
from app.core.units import MB
from app.ui import monitor
from app.ui.app import build_window, load_default_model
from app.ui.monitor import sampler_thread


@pytest.fixture
def window(qtbot, core, monkeypatch):
    monkeypatch.setattr(sampler_thread, "VISIBLE_INTERVAL_MS", 150)
    monkeypatch.setattr(sampler_thread, "HIDDEN_INTERVAL_MS", 1200)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    yield win
    engine.shutdown()
    win.close()
    assert not win.monitor.thread.isRunning(), "closing the window stops the sampler thread"


def _open_monitor(qtbot, win):
    win.tabs.setCurrentWidget(win.monitor_tab)
    qtbot.waitUntil(lambda: win.monitor_tab.charts is not None and win.monitor_tab.history.latest is not None)
    return win.monitor_tab


def _points(curve) -> int:
    return 0 if curve.xData is None else len(curve.xData)


def test_the_tab_shows_charts_that_advance_over_time(qtbot, window):
    tab = _open_monitor(qtbot, window)
    tab.window_buttons.button(60).click()  # one minute: the lines redraw with every sample
    cpu = tab.charts.cpu.curves["cpu"]
    qtbot.waitUntil(lambda: _points(cpu) >= 2, timeout=5000)
    before, latest = _points(cpu), tab.history.latest.time
    qtbot.waitUntil(lambda: _points(cpu) > before, timeout=5000)
    assert tab.history.latest.time > latest
    assert cpu.xData[-1] <= 0 and cpu.xData[0] >= -tab.window_s, "x is seconds before now, inside the window"
    assert tab.charts.cpu.value.text().endswith("%")
    assert "used" in tab.charts.memory.value.text()
    assert _points(tab.charts.hearth_memory.curves["rss:Hearth"]) >= 2
    assert tab.charts.disk.value.text().endswith("free")
    if not tab.history.latest.gpu.available:  # this machine: a sentence instead of empty GPU charts
        assert tab.gpu_note.isVisible() and "NVIDIA" in tab.gpu_note.text()
        assert not tab.charts.gpu_util.isVisible()
    tab.window_buttons.button(900).click()
    assert tab.charts.cpu.window_s == 900 and tab.window_s == 900


def test_hiding_the_tab_slows_the_sampler_and_stops_redraws(qtbot, window):
    tab = _open_monitor(qtbot, window)
    samples, redraws = [], []
    window.monitor.sample_taken.connect(samples.append)
    tab.charts_updated.connect(lambda: redraws.append(1))
    qtbot.waitUntil(lambda: len(samples) >= 3 and len(redraws) >= 3, timeout=10000)  # visible: each sample drawn
    timer = window.monitor.worker.timer
    assert timer.interval() == sampler_thread.VISIBLE_INTERVAL_MS

    window.tabs.setCurrentWidget(window.chat)
    assert window.monitor.interval_ms == sampler_thread.HIDDEN_INTERVAL_MS
    # the sampler thread's own timer slows down (it is set there, through a queued signal)
    qtbot.waitUntil(lambda: timer.interval() == sampler_thread.HIDDEN_INTERVAL_MS, timeout=5000)
    redraws.clear()
    with qtbot.waitSignal(window.monitor.sample_taken, timeout=10000):
        pass  # a real sample taken while hidden reaches the tab ...
    window.monitor.sample_taken.emit(samples[-1])  # ... and so does one handed over directly
    assert not redraws, "no chart is redrawn while nobody can see it"

    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: len(redraws) >= 1, timeout=2000)
    qtbot.waitUntil(lambda: timer.interval() == sampler_thread.VISIBLE_INTERVAL_MS, timeout=5000)


def test_low_memory_warning_appears_when_the_threshold_is_above_free_memory(qtbot, window):
    tab = _open_monitor(qtbot, window)
    available_mb = psutil.virtual_memory().available // MB
    tab.floor.setValue(available_mb + 4096)
    qtbot.waitUntil(lambda: tab.alert.isVisible(), timeout=3000)
    assert "warning level" in tab.alert.text()
    assert window.memory_label.isVisible() and "warning level" in window.memory_label.toolTip()
    assert window.core.settings["low_memory_warning_mb"] == available_mb + 4096
    tab.floor.setValue(0)
    qtbot.waitUntil(lambda: not tab.alert.isVisible(), timeout=3000)
    assert not window.memory_label.isVisible()


def test_a_model_about_to_load_that_needs_more_than_is_free_is_warned_about(qtbot, window, core, tmp_path):
    tab = _open_monitor(qtbot, window)
    tab.floor.setValue(0)
    path = write_tiny_gguf(tmp_path / "Huge-405B-Q4_K_M.gguf", name="Huge 405B", layers=126, n_embd=16384,
                           n_head=128, n_head_kv=8, context=8192, vocab=128256, n_ff=53248, file_type=15,
                           sparse_bytes=2 * psutil.virtual_memory().total)
    with core.db.session() as session:
        ref = ModelRef.of(register_model(session, path))
    window.engine.worker.load_started.emit(ref, "auto")  # what the engine says as it starts loading
    assert tab.alert.isVisible()
    assert f"{ref.name} needs about" in tab.alert.text() and "to load" in tab.alert.text()
    window.engine.worker.model_failed.emit("it did not fit")
    assert not tab.alert.isVisible()


def test_reply_figures_come_from_the_engine_and_a_training_child_is_charted(qtbot, window):
    tab = _open_monitor(qtbot, window)
    with qtbot.waitSignal(window.engine.worker.model_loaded, timeout=60000):
        load_default_model(window)
    # the model lives in the engine process: its memory is charted beside the window's
    qtbot.waitUntil(lambda: "rss:Engine" in tab.charts.hearth_memory.curves, timeout=5000)
    window.chat.forced_params = {"ignore_eos": True}  # a reply long enough for live rate points, always
    panel = window.chat.settings_panel
    panel.form.set_values({**panel.form.values(), "max_tokens": 64})
    panel.flush()
    with qtbot.waitSignal(window.chat.reply_settled, timeout=60000) as settled:
        window.chat.send("Write three sentences about the sea.")
    finished = settled.args[1]
    # the tab hears of the finished reply through its own queued slot, which may run just after the chat's
    qtbot.waitUntil(lambda: len(tab.history.replies) >= 1, timeout=10000)
    stat = tab.history.replies[-1]
    assert (stat.tokens_per_s, stat.ttft_s, stat.tokens) == (
        finished.tokens_per_s, finished.ttft_s, finished.completion_tokens)
    assert tab.history.series["live_tokens_per_s"].count >= 1
    assert not tab.streaming
    qtbot.waitUntil(lambda: "tok/s" in tab.charts.generation.value.text(), timeout=3000)

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        window.monitor.watch(child.pid, "Training job 1")
        qtbot.waitUntil(lambda: "rss:Training job 1" in tab.charts.hearth_memory.curves, timeout=3000)
        assert "Training job 1" in tab.charts.hearth_memory.detail.text()
    finally:
        child.kill()
        child.wait()


def test_the_monitor_package_does_not_pull_pyqtgraph_into_start_up():
    import importlib

    code = ("import sys; import app.ui.main_window; "
            "print('pyqtgraph' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert importlib.import_module("app.ui.monitor.monitor_charts") and monitor
