"""The chat's three columns (conversations, thread, settings) and the rail at the right edge whose button collapses
and expands the settings panel.

The side columns are sized for the window: on a wide one the settings panel shows the whole model name, on a small
one (1024 px) both give the thread what they can spare. Once the user drags a divider, the widths are theirs.
Whether the panel is collapsed is kept across restarts (ui_state).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QSplitter, QToolButton, QVBoxLayout, QWidget

from app.ui.chat.settings_panel import ChatSettingsPanel
from app.ui.chat.ui_state import SETTINGS_PANEL_COLLAPSED, load_flag, save_flag

WIDE_WINDOW = 1400  # from here on the settings panel widens to show the whole model name
PANEL_MAX = 420


class SettingsRail(QWidget):
    """A narrow strip with the button that hides and shows the settings panel. Emits `collapse_requested`."""

    collapse_requested = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("settingsRail")
        self.setAttribute(Qt.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 8, 2, 8)
        self.button = QToolButton()
        self.button.setObjectName("settingsToggle")
        self.button.setCursor(Qt.PointingHandCursor)
        self.button.clicked.connect(lambda: self.collapse_requested.emit(not self.collapsed))
        layout.addWidget(self.button, 0, Qt.AlignHCenter)
        layout.addStretch(1)
        self.collapsed = False
        self.show_state(False)

    def show_state(self, collapsed: bool) -> None:
        self.collapsed = collapsed
        self.button.setText("«" if collapsed else "»")
        tip = "Show the chat settings (model, system prompt, generation)" if collapsed else "Hide the chat settings"
        self.button.setToolTip(tip)
        self.button.setAccessibleName(tip)


class ChatColumns(QWidget):
    def __init__(self, sidebar: QWidget, center: QWidget, panel: ChatSettingsPanel, parent: QWidget | None = None):
        super().__init__(parent)
        self.panel = panel
        self.splitter = QSplitter(Qt.Horizontal)
        for column in (sidebar, center, panel):
            self.splitter.addWidget(column)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([260, 720, 300])
        self.splitter.setChildrenCollapsible(False)
        self._sized_by_user = False
        self.splitter.splitterMoved.connect(self._on_splitter_moved)
        self.rail = SettingsRail()
        self.rail.collapse_requested.connect(self.set_panel_collapsed)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.rail)
        # The same switch for a menu (checked: the panel is shown).
        self.panel_action = QAction("Chat settings panel", self, checkable=True)
        self.panel_action.toggled.connect(lambda shown: self.set_panel_collapsed(not shown))
        self.set_panel_collapsed(load_flag(SETTINGS_PANEL_COLLAPSED), remember=False)

    @Slot(bool)
    def set_panel_collapsed(self, collapsed: bool, remember: bool = True) -> None:
        """Hide the settings panel (the thread takes its width) or show it again; remembered across restarts."""
        self.panel.setVisible(not collapsed)
        self.rail.show_state(collapsed)
        self.panel_action.setChecked(not collapsed)
        if remember:
            save_flag(SETTINGS_PANEL_COLLAPSED, collapsed)

    def _on_splitter_moved(self, *_args) -> None:
        self._sized_by_user = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._sized_by_user:
            self._fit(event.size().width())

    def _fit(self, width: int) -> None:
        sidebar = 260 if width >= 1280 else 220
        panel = self.panel.minimumWidth() + 20
        if width >= WIDE_WINDOW:
            panel = min(max(panel, self.panel.width_for_whole_name()), PANEL_MAX)
        center = max(width - sidebar - panel - self.rail.sizeHint().width(), 0)
        self.splitter.setSizes([sidebar, center, panel])
