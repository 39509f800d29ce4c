"""The fit badge: a coloured pill (fits / tight / won't fit) painted by a delegate, with the numbers on hover."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QStyledItemDelegate

from app.core.library.fit import Verdict

BADGE_COLOURS = {
    Verdict.FITS: ("#1f3a2a", "#6fd49a"),
    Verdict.TIGHT: ("#3d3217", "#f2c46d"),
    Verdict.WONT_FIT: ("#402024", "#ff8a8a"),
    Verdict.UNKNOWN: ("#2a2f3a", "#9aa3b5"),
}
VERDICT_ROLE = Qt.UserRole + 40


class FitBadgeDelegate(QStyledItemDelegate):
    """Paints the text of the cell as a pill in the verdict's colours (VERDICT_ROLE holds the verdict)."""

    def sizeHint(self, option, index):
        size = super().sizeHint(option, index)
        text = index.data(Qt.DisplayRole) or ""
        size.setWidth(max(size.width(), option.fontMetrics.horizontalAdvance(text) + 30))
        return size

    def paint(self, painter: QPainter, option, index) -> None:
        verdict = index.data(VERDICT_ROLE)
        text = index.data(Qt.DisplayRole)
        if not verdict or not text:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        option.text = ""
        option.widget.style().drawControl(option.widget.style().ControlElement.CE_ItemViewItem, option, painter, option.widget)
        background, foreground = BADGE_COLOURS.get(verdict, BADGE_COLOURS[Verdict.UNKNOWN])
        metrics = option.fontMetrics
        width = metrics.horizontalAdvance(text) + 18
        height = metrics.height() + 6
        rect = QRectF(option.rect.x() + 6, option.rect.center().y() - height / 2 + 1, width, height)
        painter.save()
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor(background))
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor(foreground))
        painter.drawText(rect, Qt.AlignCenter, text)
        painter.restore()
