"""A push button drawn in one column of a table, one per row: rolling back to an older version is one click on
its row's Use, with no row to select first. The model gives the button's text (DisplayRole) and whether there is a
button at all (BUTTON_ENABLED_ROLE; without one the cell shows its text); no widget per row is created."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionButton

from app.ui.training.training_models import BUTTON_ENABLED_ROLE

MARGIN = 3


class ButtonDelegate(QStyledItemDelegate):
    clicked = Signal(QModelIndex)

    def _button_rect(self, cell: QRect) -> QRect:
        return cell.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)

    def paint(self, painter, option, index: QModelIndex) -> None:
        if not index.data(BUTTON_ENABLED_ROLE):  # nothing to press: the cell says why, as text ("✓ In use")
            super().paint(painter, option, index)
            return
        button = QStyleOptionButton()
        button.rect = self._button_rect(option.rect)
        button.text = str(index.data(Qt.DisplayRole) or "")
        button.state = QStyle.State_Enabled | QStyle.State_Raised
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.CE_PushButton, button, painter, widget)

    def sizeHint(self, option, index: QModelIndex) -> QSize:
        text = str(index.data(Qt.DisplayRole) or "")
        width = option.fontMetrics.horizontalAdvance(text) + 28
        return QSize(max(72, width), option.fontMetrics.height() + 12)

    def editorEvent(self, event, model, option, index: QModelIndex) -> bool:
        if event.type() == QEvent.MouseButtonRelease and event.button() == Qt.LeftButton:
            if self._button_rect(option.rect).contains(event.position().toPoint()) and index.data(BUTTON_ENABLED_ROLE):
                self.clicked.emit(index)
                return True
        return False
