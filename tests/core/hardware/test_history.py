import math

import numpy as np

from app.core.hardware.gpu import GpuStatus
from app.core.hardware.history import ReplyStat, Ring, SampleHistory, flatten
from app.core.hardware.memory_alert import MemoryNeed, memory_alert, remaining_need
from app.core.hardware.sampler import CpuReading, DiskReading, HardwareSample, MemoryReading, ProcessReading

GB = 10**9  # sizes are shown in decimal units


def _sample(t: float, cpu: float = 10.0, available: int = 8 * GB) -> HardwareSample:
    return HardwareSample(
        time=t,
        cpu=CpuReading(cpu, (cpu, cpu)),
        memory=MemoryReading(16 * GB, available, 16 * GB - available, 0, 0, False),
        processes=(ProcessReading(1, "Hearth", GB, 5.0), ProcessReading(2, "Training job 1", 2 * GB, 90.0)),
        disks=(DiskReading("/models", 100 * GB, 500 * GB),),
        gpu=GpuStatus(False, "none"),
    )


def test_a_ring_keeps_only_the_newest_values_in_time_order():
    ring = Ring(capacity=4)
    for i in range(10):
        ring.append(float(i), i * 10.0)
    t, v = ring.arrays()
    assert t.tolist() == [6.0, 7.0, 8.0, 9.0]
    assert v.tolist() == [60.0, 70.0, 80.0, 90.0]
    assert ring.last() == (9.0, 90.0)
    assert ring.since(7.5)[0].tolist() == [8.0, 9.0]


def test_history_is_bounded_and_answers_for_a_time_window():
    history = SampleHistory(capacity=100)
    for i in range(1000):
        history.add(_sample(1000.0 + i, cpu=float(i % 50)))
    assert all(ring.count <= 100 for ring in history.series.values())
    t, v = history.window("cpu", 10, now=1999.0)
    assert t[0] >= 1989.0 and len(t) == 11
    stats = history.stats("cpu", 10, now=1999.0)
    assert (stats.current, stats.minimum, stats.maximum) == (49.0, 39.0, 49.0)
    assert history.stats("no such series", 10, now=1999.0) is None


def test_flatten_names_every_series_the_monitor_charts():
    names = set(flatten(_sample(1.0)))
    assert {"cpu", "core0", "core1", "ram_used", "swap_used", "rss:Hearth", "proc_cpu:Training job 1",
            "disk_free:/models"} <= names


def test_reply_figures_and_gaps_between_live_rates():
    history = SampleHistory()
    history.add_point("live_tokens_per_s", 1.0, 100.0)
    history.add_point("live_tokens_per_s", 2.0, 120.0)
    history.add_point("live_tokens_per_s", 3.0, math.nan)  # the reply ended
    history.add_reply(ReplyStat(3.0, 118.5, 0.08, 200, "SmolLM2"))
    stats = history.stats("live_tokens_per_s", 60, now=4.0)
    assert (stats.minimum, stats.maximum) == (100.0, 120.0)
    assert history.window("tokens_per_s", 60, now=4.0)[1].tolist() == [118.5]
    assert np.isnan(history.window("live_tokens_per_s", 60, now=4.0)[1][-1])
    assert [r.tokens for r in history.replies_since(2.0)] == [200]


def test_memory_alert_says_what_is_short_and_what_to_do():
    loading = memory_alert(1 * GB, MemoryNeed("Qwen 7B", 5 * GB, loading=True), floor=0)
    assert "Qwen 7B needs about 5.0 GB to load" in loading and "smaller quantisation" in loading
    loaded = memory_alert(1 * GB, MemoryNeed("Qwen 7B", 2 * GB, loading=False), floor=0)
    assert "may still need" in loaded and "swapping" in loaded
    assert memory_alert(8 * GB, MemoryNeed("Qwen 7B", 5 * GB, loading=True), floor=GB) is None
    floor = memory_alert(300 * 10**6, None, floor=512 * 10**6)
    assert "300 MB" in floor and "512 MB" in floor
    assert memory_alert(300 * 10**6, None, floor=0) is None


def test_a_loaded_model_needs_only_what_it_has_not_made_resident():
    assert remaining_need(1000, 400) == 600
    assert remaining_need(1000, 1200) == 0
    assert remaining_need(1000, None) == 1000


def test_a_long_window_is_averaged_down_to_the_points_a_chart_can_show():
    history = SampleHistory()
    for i in range(900):
        history.add_point("x", float(i), float(i % 2))
    t, v = history.window("x", 900, now=899.0, max_points=150)
    assert len(t) == 150 and np.allclose(v, 0.5)
    assert t[-1] == 896.5, "runs are aligned to the newest sample, so the latest point is always a whole run"
    assert len(history.window("x", 60, now=899.0, max_points=150)[0]) == 61, "short windows are not averaged"
