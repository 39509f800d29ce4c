"""The chat's model picker: long model names are shortened in the middle, never cut, and shown whole as a tooltip.

Model names end in what tells them apart ("…-Q4_K_M", "(default)"), so cutting the end ("(defa") hides exactly
that; an ellipsis in the middle keeps both ends.
"""

from __future__ import annotations

from PySide6.QtCore import QIdentityProxyModel, QModelIndex, QSize, Qt
from PySide6.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox, QStylePainter, QWidget

from app.ui.models_list import ModelListModel

MIN_VISIBLE_CHARS = 10  # the picker may shrink this far (then it elides); it never makes the panel wider


class FullNameTips(QIdentityProxyModel):
    """The list's rows with the full name on top of each row's tooltip (the popup elides long names)."""

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if role == Qt.ToolTipRole and index.isValid():
            name = super().data(index, Qt.DisplayRole)
            details = super().data(index, Qt.ToolTipRole)
            return f"{name}\n{details}" if details else name
        return super().data(index, role)


class ModelPicker(QComboBox):
    """A combo over the model list: as wide as its longest name allows, elided in the middle when narrower."""

    def __init__(self, models: ModelListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.models = models
        tips = FullNameTips(self)
        tips.setSourceModel(models)
        self.setModel(tips)
        self.setSizeAdjustPolicy(QComboBox.AdjustToContents)
        self.view().setTextElideMode(Qt.ElideMiddle)
        self.currentIndexChanged.connect(self._update_tooltip)
        models.modelReset.connect(self._update_tooltip)
        models.dataChanged.connect(self._update_tooltip)
        self._update_tooltip()

    def row_of(self, model_id: int | None) -> int:
        return self.models.row_of(model_id)

    def _update_tooltip(self, *_args) -> None:
        self.setToolTip(self.itemData(self.currentIndex(), Qt.ToolTipRole) or "")

    def minimumSizeHint(self) -> QSize:
        """Room for a few characters: in a narrow panel the name is elided instead of widening the panel."""
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * MIN_VISIBLE_CHARS + 40), hint.height())

    def paintEvent(self, _event) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.CC_ComboBox, option)
        option.currentText = self.displayed_text()
        painter.drawControl(QStyle.CE_ComboBoxLabel, option)

    def displayed_text(self) -> str:
        """The name as the closed picker shows it: whole when it fits, elided in the middle when not."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(QStyle.CC_ComboBox, option, QStyle.SC_ComboBoxEditField, self)
        return self.fontMetrics().elidedText(option.currentText, Qt.ElideMiddle, field.width())
