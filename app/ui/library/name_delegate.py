"""Long model names cut in the middle ('Qwen2.5-7B-Ins…-Q4_K_M'), so both the family and the quantisation show.

The model gives the full name as the cell's tooltip; this delegate only decides what fits in the cell.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate


class MiddleElideDelegate(QStyledItemDelegate):
    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.ElideMiddle
        if not option.text:
            return
        style = option.widget.style() if option.widget is not None else QApplication.style()
        width = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, option.widget).width()
        margin = style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, option.widget) + 1
        option.text = option.fontMetrics.elidedText(option.text, Qt.ElideMiddle, max(0, width - 2 * margin))
