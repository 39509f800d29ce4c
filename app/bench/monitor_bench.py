"""`hearth bench monitor`: what the Monitor tab costs, in share of one CPU core, and one sample against raw psutil.

1. Sampling: `HardwareSampler.sample()` against the bare psutil calls it is built on (same figures), per call.
2. The whole monitor in the real window (offscreen): the process's CPU time over a stretch with the Monitor tab
   visible (sampling every second, charts redrawn over a full 15-minute window), then with another tab in front (sampling every five
   seconds, no redraws), then with the sampler stopped and the Monitor tab still in front (the baseline: an idle
   window). The overhead is the difference from the baseline, as a percentage of one core.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time


def _raw_psutil_sample(process, folder: str) -> None:
    import psutil

    psutil.cpu_times(percpu=True)
    psutil.virtual_memory()
    psutil.swap_memory()
    with process.oneshot():
        process.memory_info()
        process.cpu_percent()
    psutil.disk_usage(folder)


def _per_call_us(fn, rounds: int) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        times.append((time.perf_counter() - started) / rounds * 1e6)
    return statistics.median(times)


def sampling_cost(rounds: int = 300) -> dict:
    import psutil

    from app import paths
    from app.core.hardware.sampler import HardwareSampler

    folder = paths.models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    sampler = HardwareSampler([folder])
    process = psutil.Process()
    raw = _per_call_us(lambda: _raw_psutil_sample(process, str(folder)), rounds)
    hearth = _per_call_us(sampler.sample, rounds)
    return {"raw_us": raw, "hearth_us": hearth, "ratio": hearth / raw}


def _cpu_seconds() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def _measure(seconds: float) -> float:
    """Share of one core the process used over `seconds` of a running event loop, in percent."""
    from PySide6.QtCore import QCoreApplication

    before, started = _cpu_seconds(), time.perf_counter()
    while time.perf_counter() - started < seconds:
        QCoreApplication.processEvents()
        time.sleep(0.01)  # an event loop waiting for events: idle between them
    return 100 * (_cpu_seconds() - before) / (time.perf_counter() - started)


def _fill_history(tab, minutes: int = 15) -> None:
    """Fifteen minutes of varied past samples, so the widest window is drawn full (the worst case)."""
    import dataclasses
    import random

    from app.core.hardware.sampler import CpuReading

    latest = tab.history.latest
    rng = random.Random(3)
    now = time.time()
    for i in range(minutes * 60, 0, -1):
        cores = tuple(rng.uniform(0, 100) for _ in latest.cpu.per_core)
        cpu = CpuReading(sum(cores) / len(cores), cores)
        tab.history.add(dataclasses.replace(latest, time=now - i, cpu=cpu))
    tab.set_window(minutes * 60)


def window_cost(seconds: float) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.core.startup import open_core
    from app.ui.app import apply_theme, build_window

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    core = open_core()
    window, engine = build_window(core)
    window.show()
    window.tabs.setCurrentWidget(window.monitor_tab)
    redraw_ms: list[float] = []
    charts_redraw = None

    _measure(3.0)  # warm up: charts built, first samples in
    _fill_history(window.monitor_tab)
    charts_redraw = window.monitor_tab.charts.redraw

    def timed_redraw(*args):
        started = time.thread_time()
        charts_redraw(*args)
        redraw_ms.append((time.thread_time() - started) * 1000)

    window.monitor_tab.charts.redraw = timed_redraw
    visible = {}
    for minutes in (15, 5, 1):
        window.monitor_tab.set_window(minutes * 60)
        _measure(1.0)
        visible[minutes] = _measure(seconds)
    window.tabs.setCurrentWidget(window.chat)
    _measure(1.0)
    hidden = _measure(seconds)
    window.tabs.setCurrentWidget(window.monitor_tab)
    _measure(1.0)
    window.monitor.shutdown()
    _measure(1.0)
    baseline = _measure(seconds)
    engine.shutdown()
    window.close()
    core.db.close()
    return {
        "visible_pct": {m: v - baseline for m, v in visible.items()},
        "hidden_pct": hidden - baseline,
        "baseline_pct": baseline,
        "redraw_ms": statistics.median(redraw_ms) if redraw_ms else 0.0,
        "redraws": len(redraw_ms),
    }


def main(seconds: float = 20.0) -> int:
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
    sampling = sampling_cost()
    cost = window_cost(seconds)
    print("Hearth monitor benchmark (offscreen window, no model loaded, 15 minutes of history)")
    print(f"  one sample, raw psutil calls        {sampling['raw_us']:8.0f} µs")
    print(f"  one sample, HardwareSampler         {sampling['hearth_us']:8.0f} µs   ratio {sampling['ratio']:.2f}")
    print(f"  chart redraw (Python side, median)  {cost['redraw_ms']:8.1f} ms   ({cost['redraws']} redraws)")
    print(f"  idle window, sampler stopped        {cost['baseline_pct']:8.2f} % of one core (baseline)")
    for minutes, pct in cost["visible_pct"].items():
        label = f"Monitor visible, {minutes}-minute window"
        print(f"  {label:<36}{pct:8.2f} % of one core above baseline")
    print(f"  Monitor hidden (5 s sampling)       {cost['hidden_pct']:8.2f} % of one core above baseline")
    return 0
