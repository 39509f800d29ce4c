"""A layout that lays its items out in lines and wraps to the next line when the width runs out.

A message's footer (versions, stats, Copy, Regenerate, Good, Bad, Correct…) is wider than a narrow thread: in one
fixed row it forced the card wider than the viewport, and the card slid under the scrollbar and the settings panel.
Here the row wraps instead, so a card is never wider than the room it is given.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QWidget, QWidgetItem


class FlowLayout(QLayout):
    """Items left to right, wrapping. Items from `push_right_from` on sit at the right end of their line, so the
    actions keep their place at the right of a wide card and move together to a line of their own in a narrow one."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 4, line_spacing: int = 2):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._spacing, self._line_spacing = spacing, line_spacing
        self.push_right_from: int | None = None
        self.setContentsMargins(0, 0, 0, 0)

    def add_push_right(self) -> None:
        """Items added after this call sit at the right end of their line."""
        self.push_right_from = len(self._items)

    # --- QLayout -----------------------------------------------------------------------------------------------
    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def addWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt's name
        self.addChildWidget(widget)
        self.addItem(QWidgetItem(widget))

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), apply=False)

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, apply=True)

    def sizeHint(self) -> QSize:
        """One line holding everything: what the row would like, not what it needs."""
        shown = self._shown()
        width = sum(self._hint(i).width() for i in shown) + self._spacing * max(0, len(shown) - 1)
        height = max((self._hint(i).height() for i in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:
        """The widest single item: any narrower and something would be cut."""
        size = QSize()
        for item in self._shown():
            size = size.expandedTo(item.minimumSize())
        m = self.contentsMargins()
        return size + QSize(m.left() + m.right(), m.top() + m.bottom())

    # --- arranging ---------------------------------------------------------------------------------------------
    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not (i.widget() is not None and i.widget().isHidden())]

    @staticmethod
    def _hint(item: QLayoutItem) -> QSize:
        return item.sizeHint().expandedTo(item.minimumSize())

    def _lines(self, width: int) -> list[list[tuple[QLayoutItem, int, int, bool]]]:
        """Items grouped into lines: (item, width, height, pushed right) each. The pushed items move to a new line
        together when they do not all fit beside the others (one button alone on a line reads as a mistake)."""
        visible = self._shown()
        shown = [(index, item) for index, item in enumerate(self._items) if item in visible]
        widths = {index: min(self._hint(item).width(), width) for index, item in shown}
        pushed_indexes = [i for i, _ in shown if self.push_right_from is not None and i >= self.push_right_from]
        group_width = sum(widths[i] for i in pushed_indexes) + self._spacing * max(0, len(pushed_indexes) - 1)
        lines: list[list[tuple[QLayoutItem, int, int, bool]]] = [[]]
        used = 0
        for index, item in shown:
            w = widths[index]
            h = item.heightForWidth(w) if item.hasHeightForWidth() else self._hint(item).height()
            first_pushed = bool(pushed_indexes) and index == pushed_indexes[0]
            needed = w if not lines[-1] else used + self._spacing + w
            group_breaks = first_pushed and lines[-1] and used + self._spacing + group_width > width
            if lines[-1] and (needed > width or group_breaks):
                lines.append([])
                needed = w
            lines[-1].append((item, w, max(h, item.minimumSize().height()), index in pushed_indexes))
            used = needed
        return [line for line in lines if line]

    def _arrange(self, rect: QRect, apply: bool) -> int:
        m = self.contentsMargins()
        area = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        y = area.y()
        for n, line in enumerate(self._lines(max(1, area.width()))):
            if n:
                y += self._line_spacing
            height = max(h for _, _, h, _ in line)
            if apply:
                free = area.width() - sum(w for _, w, _, _ in line) - self._spacing * (len(line) - 1)
                x = area.x()
                for item, w, h, pushed in line:
                    if pushed and free > 0:  # the first pushed item takes the slack, the rest follow it
                        x += free
                        free = 0
                    item.setGeometry(QRect(QPoint(x, y + (height - h) // 2), QSize(w, h)))
                    x += w + self._spacing
            y += height
        return y - area.y() + m.top() + m.bottom()
