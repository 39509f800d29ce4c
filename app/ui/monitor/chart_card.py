"""One chart on the Monitor tab: a title, the headline (current, min and max over the window) and a live plot.

Plots are made cheap to redraw once a second: no mouse interaction, no antialiasing, data clipped to the visible
window and averaged down to the plot's pixel width, and the y range set by the card rather than recomputed by
pyqtgraph each frame.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout

from app.core.units import GB, MB
from app.ui.plain_text import plain_label

SURFACE = "#1c2029"
AXIS = "#7d8699"
PALETTE = ("#e07a3f", "#8fb4ff", "#7bd389", "#f2c46d", "#c792ea", "#5fd7d7")


def byte_unit(largest: float) -> tuple[float, str]:
    """Plot bytes in MB or GB so the axis ticks land on round numbers of the unit people read."""
    return (GB, "GB") if largest >= 1.5 * GB else (MB, "MB")


def _tint(color: str, share: float = 0.16) -> QColor:
    """The colour mixed into the card's surface. Opaque on purpose: a translucent fill cost 3x the paint time."""
    top, base = QColor(color), QColor(SURFACE)
    mix = [round(share * a + (1 - share) * b) for a, b in zip(top.getRgb()[:3], base.getRgb()[:3], strict=True)]
    return QColor(*mix)


class TimeAxis(pg.AxisItem):
    """Seconds before now, labelled the way people say it: "now", "30 s", "5 min"."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        labels = []
        for value in values:
            ago = -value
            if ago < 0.5:
                labels.append("now")
            elif ago < 60:
                labels.append(f"{ago:.0f} s")
            else:
                labels.append(f"{ago / 60:.0f} min")
        return labels

    def tickValues(self, minVal, maxVal, size):  # noqa: N802,N803 - pyqtgraph's names
        span = maxVal - minVal
        step = next(s for s in (15, 30, 60, 120, 300, 600, 900) if span / s <= 6)
        ticks = list(np.arange(0, minVal - 1e-9, -step))
        return [(step, ticks)]


class ElidedLabel(QLabel):
    """Plain text that ends in "…" where the card is too narrow (a 1024-px window), whole in its tooltip."""

    def __init__(self, text: str = ""):
        super().__init__()
        self.setTextFormat(Qt.PlainText)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)  # long text gives way; the column does not
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt's name
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.ElideRight, rect.width())
        painter = QPainter(self)
        self.style().drawItemText(painter, rect, self.alignment(), self.palette(), self.isEnabled(), shown,
                                  self.foregroundRole())


class ChartCard(QFrame):
    """`unit` is a suffix for the axis ("%", "W"), or "bytes" to plot in MB or GB as the values need."""

    def __init__(self, title: str, unit: str):
        super().__init__()
        self.setObjectName("chartCard")
        self.unit = unit
        self.scale, self.suffix = (MB, "MB") if unit == "bytes" else (1.0, unit)
        self.title = ElidedLabel(title)
        self.title.setObjectName("chartTitle")
        self.value = plain_label("–")
        self.value.setObjectName("chartValue")
        self.detail = ElidedLabel("")
        self.detail.setObjectName("chartDetail")
        self.range = ElidedLabel("")
        self.range.setObjectName("chartRange")
        self.range.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        self.note = plain_label("")
        self.note.setObjectName("chartNote")
        self.note.setWordWrap(True)
        self.note.hide()

        self.plot = pg.PlotWidget(background=SURFACE, axisItems={"bottom": TimeAxis("bottom")})
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(120)
        item = self.plot.getPlotItem()
        # No grid: pyqtgraph draws it with the axis, so every data change would repaint the axis and its labels
        # too, which doubled the monitor's CPU cost. The tick labels are enough to read a value.
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setTextPen(AXIS)
            axis.setPen(QColor("#2c3240"))
        left = item.getAxis("left")
        left.setWidth(58)
        left.tickStrings = lambda values, _scale, _spacing: [f"{v:g} {self.suffix}".strip() for v in values]
        item.setClipToView(True)
        self.plot.enableAutoRange(False)
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.window_s = 300

        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title, 1)
        head.addWidget(self.range, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(2)
        values = QHBoxLayout()
        values.setContentsMargins(0, 0, 0, 0)
        values.setSpacing(8)
        values.addWidget(self.value, 0, Qt.AlignBaseline)
        values.addWidget(self.detail, 1, Qt.AlignBaseline)
        layout.addLayout(head)
        layout.addLayout(values)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)

    def curve(self, name: str, color: str, width: float = 2.0, fill: bool = False, symbol: str | None = None):
        """The curve called `name`, created on first use (series such as a training child come and go)."""
        existing = self.curves.get(name)
        if existing is not None:
            return existing
        pen = pg.mkPen(color, width=width) if symbol is None else None
        # Antialiasing a noisy 900-point line cost ~100 ms a repaint here; without it, a few ms.
        kwargs = {"pen": pen, "connect": "finite", "antialias": False, "autoDownsample": True, "downsampleMethod": "mean"}
        if fill:
            kwargs.update(fillLevel=0, brush=_tint(color))
        if symbol:
            kwargs.update(symbol=symbol, symbolSize=7, symbolBrush=color, symbolPen=None)
        item = self.plot.plot([], [], **kwargs)
        self.curves[name] = item
        return item

    def drop_curves_except(self, keep: set[str]) -> None:
        for name in list(self.curves):
            if name not in keep:
                self.plot.removeItem(self.curves.pop(name))

    def set_window(self, seconds: int) -> None:
        self.window_s = seconds
        self.plot.setXRange(-seconds, 0, padding=0.01)

    def set_data(self, name: str, x: np.ndarray, y: np.ndarray) -> None:
        self.curves[name].setData(x, y / self.scale if self.scale != 1.0 else y)

    def set_y_max(self, y_max: float) -> None:
        """Call before set_data: for bytes it picks the unit the data is divided by."""
        if self.unit == "bytes":
            self.scale, self.suffix = byte_unit(y_max)
        self.plot.setYRange(0, max(y_max / self.scale, 1e-9), padding=0.04)

    def set_headline(self, current: str, detail: str = "", low_high: str = "") -> None:
        for label, text in ((self.value, current), (self.detail, detail), (self.range, low_high)):
            if label.text() != text:  # relabelling costs a relayout; most seconds nothing changed
                label.setText(text)

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))
