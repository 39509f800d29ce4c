"""The left sidebar: new chat, search, and the conversation list with rename and delete (undoable)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QPainter
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListView,
    QMenu,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.chat.conversation_model import ID_ROLE, SNIPPET_ROLE, ConversationListModel
from app.ui.plain_text import plain_label

UNDO_DELETE_MS = 8000


class ConversationDelegate(QStyledItemDelegate):
    """Title on the first line, the date or the search snippet on the second."""

    def sizeHint(self, option, index) -> QSize:
        return QSize(option.rect.width(), 52)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        selected = option.state & QStyle.State_Selected
        hovered = option.state & QStyle.State_MouseOver
        rect = option.rect.adjusted(6, 2, -6, -2)
        if selected or hovered:
            painter.setRenderHint(QPainter.Antialiasing)
            painter.setPen(Qt.NoPen)
            painter.setBrush(QColor("#2f3646") if selected else QColor("#252a35"))
            painter.drawRoundedRect(rect, 8, 8)
        text_rect = rect.adjusted(12, 6, -12, -6)
        title_font = QFont(option.font)
        title_font.setWeight(QFont.DemiBold if selected else QFont.Normal)
        painter.setFont(title_font)
        painter.setPen(QColor("#eef1f6"))
        metrics = painter.fontMetrics()
        title = metrics.elidedText(index.data(Qt.DisplayRole) or "", Qt.ElideRight, text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.top(), text_rect.width(), metrics.height()), Qt.AlignLeft, title)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() - 1.5))
        painter.setFont(small)
        painter.setPen(QColor("#8a93a6"))
        sub = painter.fontMetrics().elidedText(index.data(SNIPPET_ROLE) or "", Qt.ElideRight, text_rect.width())
        painter.drawText(QRect(text_rect.left(), text_rect.bottom() - painter.fontMetrics().height(), text_rect.width(), painter.fontMetrics().height()), Qt.AlignLeft, sub)
        painter.restore()


class ConversationSidebar(QWidget):
    conversation_selected = Signal(int)
    new_requested = Signal()
    delete_committed = Signal(int)
    renamed = Signal(int, str)

    def __init__(self, model: ConversationListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        layout.setSpacing(8)
        self.new_button = QPushButton("+  New chat")
        self.new_button.setObjectName("newChatButton")
        layout.addWidget(self.new_button)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.setObjectName("searchField")
        layout.addWidget(self.search)
        self.view = QListView()
        self.view.setObjectName("conversationList")
        self.view.setModel(model)
        self.view.setItemDelegate(ConversationDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.view.setUniformItemSizes(True)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        layout.addWidget(self.view, 1)

        self.undo_bar = QWidget()
        self.undo_bar.setObjectName("undoBar")
        undo_layout = QHBoxLayout(self.undo_bar)
        undo_layout.setContentsMargins(10, 6, 6, 6)
        self.undo_label = plain_label("Conversation deleted")
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("linkButton")
        undo_layout.addWidget(self.undo_label, 1)
        undo_layout.addWidget(self.undo_button)
        self.undo_bar.hide()
        layout.addWidget(self.undo_bar)
        self._pending_delete: list[int] = []
        self._delete_timer = QTimer(self, singleShot=True, interval=UNDO_DELETE_MS)
        self._delete_timer.timeout.connect(self.commit_deletes)
        self._search_timer = QTimer(self, singleShot=True, interval=150)
        self._search_timer.timeout.connect(lambda: self.model.refresh(self.search.text()))

        self.new_button.clicked.connect(self.new_requested)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.view.clicked.connect(self._clicked)
        self.view.activated.connect(self._clicked)
        self.view.customContextMenuRequested.connect(self._menu)
        self.undo_button.clicked.connect(self.undo_delete)

    def _clicked(self, index: QModelIndex) -> None:
        cid = index.data(ID_ROLE)
        if cid is not None:
            self.conversation_selected.emit(cid)

    def select(self, conversation_id: int | None) -> None:
        row = self.model.row_of(conversation_id) if conversation_id is not None else -1
        if row >= 0:
            self.view.setCurrentIndex(self.model.index(row))
        else:
            self.view.clearSelection()

    def _menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        cid = index.data(ID_ROLE)
        if cid is None:
            return
        menu = QMenu(self)
        rename = QAction("Rename…", menu)
        delete = QAction("Delete", menu)
        rename.triggered.connect(lambda: self.rename(cid))
        delete.triggered.connect(lambda: self.delete(cid))
        menu.addAction(rename)
        menu.addAction(delete)
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def rename(self, conversation_id: int, title: str | None = None) -> None:
        if title is None:
            row = self.model.row_of(conversation_id)
            current = self.model.index(row).data(Qt.DisplayRole) if row >= 0 else ""
            title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=current)
            if not ok:
                return
        if title.strip():
            self.renamed.emit(conversation_id, title.strip())

    def delete(self, conversation_id: int) -> None:
        """Hide now, delete for real after a few seconds unless Undo is pressed."""
        self.commit_deletes()
        self._pending_delete = [conversation_id]
        self.model.hidden.add(conversation_id)
        self.model.refresh()
        self.undo_bar.show()
        self._delete_timer.start()

    def undo_delete(self) -> None:
        for cid in self._pending_delete:
            self.model.hidden.discard(cid)
        self._pending_delete = []
        self._delete_timer.stop()
        self.undo_bar.hide()
        self.model.refresh()

    def commit_deletes(self) -> None:
        pending, self._pending_delete = self._pending_delete, []
        self._delete_timer.stop()
        self.undo_bar.hide()
        for cid in pending:
            self.delete_committed.emit(cid)
            self.model.hidden.discard(cid)
