"""The grid of charts on the Monitor tab, redrawn from the sample history (never from psutil directly).

Built on first show: pyqtgraph takes a quarter of a second to import, which the window's start-up should not pay.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QWidget

from app.core.hardware.history import SampleHistory
from app.core.units import format_bytes
from app.ui.monitor.chart_card import PALETTE, ChartCard
from app.ui.monitor.sampler_thread import CHART_POINTS

ACCENT, BLUE, GREEN, AMBER, VIOLET = PALETTE[:5]
CORE_COLOR = "#8fb4ff55"  # faint, so the total stays readable over many cores


def fmt_percent(v: float) -> str:
    return f"{v:.0f} %"


def _peak(arrays) -> float:
    finite = [a[np.isfinite(a)] for a in arrays if len(a)]
    return max((float(a.max()) for a in finite if len(a)), default=0.0)


class MonitorCharts(QWidget):
    def __init__(self, cores: int, unified_memory: bool):
        super().__init__()
        self.cpu = ChartCard("CPU", "%")
        self.cores = cores
        self.memory = ChartCard("Unified memory (CPU + GPU)" if unified_memory else "Memory", "bytes")
        self.generation = ChartCard("Generation speed · tokens/s", "")
        self.hearth_memory = ChartCard("Hearth memory", "bytes")
        self.hearth_cpu = ChartCard("Hearth CPU", "%")
        self.disk = ChartCard("Disk free where models live", "bytes")
        self.gpu_util = ChartCard("GPU load", "%")
        self.gpu_memory = ChartCard("VRAM", "bytes")
        self.gpu_temp = ChartCard("GPU temperature", "°C")
        self.gpu_power = ChartCard("GPU power", "W")
        self.gpu_cards = (self.gpu_util, self.gpu_memory, self.gpu_temp, self.gpu_power)

        self.grid = grid = QGridLayout(self)
        grid.setContentsMargins(16, 4, 16, 16)
        grid.setSpacing(12)
        top = (self.cpu, self.memory, self.generation, self.hearth_memory, self.hearth_cpu, self.disk)
        for i, card in enumerate(top):  # three per row on a 12-column grid
            grid.addWidget(card, i // 3, (i % 3) * 4, 1, 4)
        for i, card in enumerate(self.gpu_cards):  # four per row
            grid.addWidget(card, 2, i * 3, 1, 3)
            card.hide()
        for column in range(12):
            grid.setColumnStretch(column, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)

        self.cpu.setToolTip("Bold line: all cores together. Faint lines: each core.")
        self.memory.setToolTip("Blue: memory in use (total minus what the system could free quickly). Yellow: swap.")
        self.generation.setToolTip("Line: the live decode rate while a reply streams. Dots: each finished reply.")
        self.hearth_memory.setToolTip("Resident memory of Hearth, and of any training job it runs.")
        self.hearth_cpu.setToolTip("100 % is one core busy; a process using several cores goes above 100 %.")
        self.cpu.curve("cpu", ACCENT, 2, fill=True)
        self.memory.curve("ram_used", BLUE, 2, fill=True)
        self.memory.curve("swap_used", AMBER, 1.5)
        self.generation.curve("live_tokens_per_s", ACCENT, 2)
        self.generation.curve("tokens_per_s", GREEN, symbol="o")
        self.window_s = 300
        self.set_window(300)

    @property
    def cards(self) -> tuple[ChartCard, ...]:
        return (self.cpu, self.memory, self.generation, self.hearth_memory, self.hearth_cpu, self.disk,
                *self.gpu_cards)

    def set_window(self, seconds: int) -> None:
        self.window_s = seconds
        for card in self.cards:
            card.set_window(seconds)

    def redraw(self, history: SampleHistory, now: float, streaming_rate: float | None, plots: bool = True) -> None:
        """Headlines always; the plots only when `plots` (wide windows move less than a pixel a second)."""
        if history.latest is None:
            return
        self.history, self.now, self.plots = history, now, plots
        self._cpu()
        self._memory()
        self._generation(streaming_rate)
        self._processes()
        self._disks()
        self._gpus()

    def _plot(self, card: ChartCard, names: list[str], y_max: float | None = None, headroom: float = 1.15,
              floor: float = 1.0):
        """Draw these series on the card; the y range is fixed, or the window's peak plus some headroom."""
        data = {name: self.history.window(name, self.window_s, self.now, CHART_POINTS) for name in names}
        if not self.plots:
            return data
        if y_max is None:
            y_max = max(_peak([v for _, v in data.values()]) * headroom, floor)
        card.set_y_max(y_max)
        for name, (t, v) in data.items():
            card.set_data(name, t - self.now, v)
        return data

    def _range(self, name: str, fmt) -> str:
        stats = self.history.stats(name, self.window_s, self.now)
        return f"min {fmt(stats.minimum)} · max {fmt(stats.maximum)}" if stats else ""

    def _cpu(self) -> None:
        cores = self.history.names("core")
        for name in cores:
            self.cpu.curve(name, CORE_COLOR, 1)
        self._plot(self.cpu, [*cores, "cpu"], 100)
        cpu = self.history.latest.cpu
        busiest = max(cpu.per_core, default=0.0)
        self.cpu.set_headline(
            fmt_percent(cpu.percent), f"{self.cores} cores · busiest {busiest:.0f} %", self._range("cpu", fmt_percent)
        )

    def _memory(self) -> None:
        mem = self.history.latest.memory
        self._plot(self.memory, ["ram_used", "swap_used"] if mem.swap_total else ["ram_used"],
                   max(mem.total, mem.swap_used))
        swap = f" · swap {format_bytes(mem.swap_used)}" if mem.swap_total else " · no swap"
        self.memory.set_headline(
            f"{format_bytes(mem.used)} used",
            f"of {format_bytes(mem.total)} · {format_bytes(mem.available)} free{swap}",
            self._range("ram_used", format_bytes),
        )

    def _generation(self, streaming_rate: float | None) -> None:
        data = self._plot(self.generation, ["live_tokens_per_s", "tokens_per_s"], headroom=1.25)
        rates = data["tokens_per_s"][1]
        last = self.history.replies[-1] if self.history.replies else None
        if streaming_rate is not None:
            current, detail = f"{streaming_rate:.0f} tok/s", "streaming now"
        elif last is not None:
            current = f"{last.tokens_per_s:.0f} tok/s"
            detail = f"last reply · first token in {last.ttft_s * 1000:.0f} ms · {last.tokens} tokens"
        else:
            current, detail = "–", "no replies yet this session"
        low_high = f"{len(rates)} repl{'y' if len(rates) == 1 else 'ies'} · min {rates.min():.0f} · max {rates.max():.0f}" if len(rates) else ""
        self.generation.set_headline(current, detail, low_high)

    def _processes(self) -> None:
        latest = {p.label: p for p in self.history.latest.processes}
        for card, prefix in ((self.hearth_memory, "rss:"), (self.hearth_cpu, "proc_cpu:")):
            # A child that has ended keeps its line until it scrolls out of the window.
            names = [n for n in self.history.names(prefix) if len(self.history.window(n, self.window_s, self.now)[0])]
            card.drop_curves_except(set(names))
            for i, name in enumerate(names):
                card.curve(name, PALETTE[i % len(PALETTE)], 2, fill=i == 0)
            self._plot(card, names, None, 1.2, floor=1.0 if prefix == "rss:" else 100.0)
        own = latest["Hearth"]
        others = [p for label, p in latest.items() if label != "Hearth"]
        self.hearth_memory.set_headline(
            format_bytes(own.rss),
            " · ".join([f"resident, {len(others)} child process{'es' if len(others) > 1 else ''}" if others
                        else "resident", *(f"{p.label} {format_bytes(p.rss)}" for p in others)]),
            self._range("rss:Hearth", format_bytes),
        )
        self.hearth_cpu.set_headline(
            fmt_percent(own.cpu_percent),
            " · ".join(["of one core", *(f"{p.label} {p.cpu_percent:.0f} %" for p in others)]),
            self._range("proc_cpu:Hearth", fmt_percent),
        )

    def _disks(self) -> None:
        disks = self.history.latest.disks
        if not disks:
            self.disk.set_headline("–", "no models folder found")
            return
        names = [f"disk_free:{d.path}" for d in disks]
        for i, name in enumerate(names):
            self.disk.curve(name, PALETTE[(i + 2) % len(PALETTE)], 2, fill=i == 0)
        self._plot(self.disk, names, max(d.total for d in disks))
        first = disks[0]
        detail = f"of {format_bytes(first.total)}"
        if len(disks) > 1:
            detail += f" · {len(disks) - 1} more disk{'s' if len(disks) > 2 else ''} (hover)"
        self.disk.set_headline(f"{format_bytes(first.free)} free", detail, self._range(names[0], format_bytes))
        self.disk.setToolTip("\n".join(f"{d.path}: {format_bytes(d.free)} free of {format_bytes(d.total)}" for d in disks))

    def _gpus(self) -> None:
        status = self.history.latest.gpu
        for card in self.gpu_cards:
            card.setVisible(status.available)
        self.grid.setRowStretch(2, 1 if status.available else 0)
        if not status.available:  # the tab shows the reason in a sentence instead
            return
        devices = status.devices
        limits = [d.power_limit_w for d in devices if d.power_limit_w]
        temps = [d.temperature_c for d in devices if d.temperature_c is not None]
        for card, key, fmt, y_max in (
            (self.gpu_util, "util", fmt_percent, 100),
            (self.gpu_memory, "mem_used", format_bytes, max(d.memory_total for d in devices)),
            (self.gpu_temp, "temp", lambda v: f"{v:.0f} °C", max([100.0, *temps])),
            (self.gpu_power, "power", lambda v: f"{v:.0f} W", max(limits) if limits else None),
        ):
            names = [f"gpu{d.index}_{key}" for d in devices]
            for d, name in zip(devices, names, strict=True):
                card.curve(name, PALETTE[d.index % len(PALETTE)], 2, fill=d.index == 0)
            self._plot(card, names, y_max)
            values = []
            for name in names:
                stats = self.history.stats(name, self.window_s, self.now)
                values.append(fmt(stats.current) if stats else "not reported")
            detail = [f"GPU {d.index} {v}" for d, v in zip(devices[1:], values[1:], strict=True)]
            if key == "power" and limits:
                detail.insert(0, f"limit {limits[0]:.0f} W")
            card.set_headline(values[0], " · ".join(detail), self._range(names[0], fmt))
        self.gpu_memory.set_headline(
            format_bytes(devices[0].memory_used),
            " · ".join([f"of {format_bytes(devices[0].memory_total)}",
                        *(f"GPU {d.index} {format_bytes(d.memory_used)} of {format_bytes(d.memory_total)}"
                          for d in devices[1:])]),
            self._range("gpu0_mem_used", format_bytes),
        )
