"""The left sidebar: new chat, search, the conversation list with rename and delete, Undo, and Recently deleted."""

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
    QSizePolicy,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.chat.conversation_model import ID_ROLE, SNIPPET_ROLE, ConversationListModel
from app.ui.chat.recently_deleted import RecentlyDeletedModel, RecentlyDeletedPanel
from app.ui.plain_text import plain_label

# Undo stays offered this long, or until the next thing the user does (another delete, a new chat, opening a
# chat, sending). Missing it loses nothing: the conversation waits in Recently deleted.
UNDO_VISIBLE_MS = 30_000


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
    # The conversation was deleted (moved to Recently deleted); the tab stops a reply streaming into it and leaves
    # it if it is on screen. Undo restores it.
    delete_committed = Signal(int)
    renamed = Signal(int, str)

    def __init__(self, model: ConversationListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.model = model
        self.deleted_model = RecentlyDeletedModel(model.db, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 12, 10, 10)
        layout.setSpacing(8)
        self.new_button = QPushButton("+  New chat")
        self.new_button.setObjectName("newChatButton")
        layout.addWidget(self.new_button)

        conversations_page = QWidget()
        page_layout = QVBoxLayout(conversations_page)
        page_layout.setContentsMargins(0, 0, 0, 0)
        page_layout.setSpacing(8)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.setObjectName("searchField")
        page_layout.addWidget(self.search)
        self.view = QListView()
        self.view.setObjectName("conversationList")
        self.view.setModel(model)
        self.view.setItemDelegate(ConversationDelegate(self.view))
        self.view.setMouseTracking(True)
        self.view.setContextMenuPolicy(Qt.CustomContextMenu)
        self.view.setUniformItemSizes(True)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        page_layout.addWidget(self.view, 1)
        self.deleted_panel = RecentlyDeletedPanel(self.deleted_model, ConversationDelegate)
        self.pages = QStackedWidget()
        self.pages.addWidget(conversations_page)
        self.pages.addWidget(self.deleted_panel)
        layout.addWidget(self.pages, 1)

        self.undo_bar = QWidget()
        self.undo_bar.setObjectName("undoBar")
        undo_layout = QHBoxLayout(self.undo_bar)
        undo_layout.setContentsMargins(10, 6, 6, 6)
        self.undo_label = plain_label("Chat deleted")
        self.undo_label.setMinimumWidth(0)  # never widens the sidebar when it appears
        self.undo_label.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.undo_button = QPushButton("Undo")
        self.undo_button.setObjectName("linkButton")
        undo_layout.addWidget(self.undo_label, 1)
        undo_layout.addWidget(self.undo_button)
        self.undo_bar.hide()
        layout.addWidget(self.undo_bar)
        self.deleted_button = QPushButton()
        self.deleted_button.setObjectName("recentlyDeletedButton")
        self.deleted_button.setCheckable(True)
        self.deleted_button.setToolTip("Deleted chats, kept for a while so they can be restored")
        layout.addWidget(self.deleted_button)
        self._undoable: int | None = None  # the conversation Undo would restore
        self._undo_reopens = False  # it was on screen when deleted, so Undo brings it back there
        self.undo_timer = QTimer(self, singleShot=True, interval=UNDO_VISIBLE_MS)
        self.undo_timer.timeout.connect(self.dismiss_undo)
        self._search_timer = QTimer(self, singleShot=True, interval=150)
        self._search_timer.timeout.connect(lambda: self.model.refresh(self.search.text()))

        self.new_button.clicked.connect(self._new_clicked)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.view.clicked.connect(self._clicked)
        self.view.activated.connect(self._clicked)
        self.view.customContextMenuRequested.connect(self._menu)
        self.undo_button.clicked.connect(self.undo_delete)
        self.deleted_button.toggled.connect(self.show_recently_deleted)
        self.deleted_panel.restored.connect(self._restored)
        self.deleted_panel.deleted_for_good.connect(self.dismiss_undo)  # acting there is the next action too
        # Whenever the list changes (a delete, a reply, a rename), Recently deleted and its count follow.
        model.modelReset.connect(self.deleted_model.refresh)
        self.deleted_model.modelReset.connect(self._update_deleted_button)
        self.deleted_model.refresh()

    def _new_clicked(self) -> None:
        self.show_recently_deleted(False)
        self.new_requested.emit()

    def _clicked(self, index: QModelIndex) -> None:
        cid = index.data(ID_ROLE)
        if cid is not None:
            self.dismiss_undo()
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

    # --- delete, Undo, Recently deleted ------------------------------------------------------------------------
    def delete(self, conversation_id: int) -> None:
        """Delete now (it moves to Recently deleted) and offer Undo until the next action or UNDO_VISIBLE_MS."""
        self.dismiss_undo()
        current = self.view.currentIndex()
        on_screen = current.isValid() and current.data(ID_ROLE) == conversation_id
        # First the tab does the delete (and leaves the conversation if it is on screen: that new chat must not
        # count as the next action), then Undo is offered for it.
        self.delete_committed.emit(conversation_id)
        self._undoable, self._undo_reopens = conversation_id, on_screen
        self.undo_bar.show()
        self.undo_timer.start()

    def undo_delete(self) -> None:
        conversation_id, reopen = self._undoable, self._undo_reopens
        self.dismiss_undo()
        if conversation_id is None:
            return
        self.deleted_model.restore(conversation_id)
        self.model.refresh()
        if reopen:
            self.conversation_selected.emit(conversation_id)

    def dismiss_undo(self, *_args) -> None:
        """The next action: Undo is no longer offered (the conversation stays in Recently deleted)."""
        self._undoable, self._undo_reopens = None, False
        self.undo_timer.stop()
        self.undo_bar.hide()

    def show_recently_deleted(self, shown: bool) -> None:
        if shown:
            self.deleted_model.refresh()
        self.pages.setCurrentWidget(self.deleted_panel if shown else self.pages.widget(0))
        if self.deleted_button.isChecked() != shown:
            self.deleted_button.setChecked(shown)  # re-enters once, with the same value
        self._update_deleted_button()

    def _restored(self, _conversation_id: int) -> None:
        self.dismiss_undo()
        self.model.refresh()
        if self.deleted_model.rowCount() == 0:
            self.show_recently_deleted(False)

    def _update_deleted_button(self) -> None:
        count = self.deleted_model.rowCount()
        if self.deleted_button.isChecked():
            self.deleted_button.setText("‹  Back to conversations")
            self.deleted_button.setEnabled(True)
        else:
            self.deleted_button.setText(f"Recently deleted  ({count})" if count else "Recently deleted")
            self.deleted_button.setEnabled(count > 0)
