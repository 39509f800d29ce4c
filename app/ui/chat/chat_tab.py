"""The Chat tab: sidebar, thread, composer and settings, wired to storage and the engine thread."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.core.chat import turns
from app.core.chat.feedback import correct_reply, rate_reply
from app.core.engine.events import ContextTrimmed, Finished
from app.core.library.registry import default_model, get_model
from app.core.startup import Core
from app.core.storage import conversations as convs
from app.core.storage.models import Message
from app.core.training.adapters import use_in_conversation
from app.ui.chat.chat_columns import ChatColumns
from app.ui.chat.composer import Composer
from app.ui.chat.conversation_list import ConversationSidebar
from app.ui.chat.conversation_model import ConversationListModel
from app.ui.chat.correction_dialog import CorrectionDialog
from app.ui.chat.message_view import MessageView
from app.ui.chat.settings_panel import ChatSettingsPanel
from app.ui.engine import EngineController
from app.ui.models_list import ModelListModel
from app.ui.plain_text import plain_label


def trimmed_note(db, event: ContextTrimmed) -> str:
    """Say exactly which messages the model could not see."""
    with db.session() as session:
        dropped = [session.get(Message, mid) for mid in event.dropped_ids if mid is not None]
    first = " ".join(dropped[0].content.split())[:40] if dropped else ""
    return (
        f"The conversation is longer than the context ({event.n_ctx} tokens): the {len(event.dropped_ids)} oldest "
        f"message(s), from “{first}…” on, were left out of this reply. The system prompt was kept."
    )


class Banner(QWidget):
    """A dismissable one-line message above the thread, for errors a person can act on."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        self.label = plain_label()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setObjectName("linkButton")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()


def context_of(thread: list) -> int:
    """Tokens the last finished exchange of a thread used (prompt and reply); 0 for a thread with none yet."""
    last = next((m for m in reversed(thread) if m.role == "assistant" and m.prompt_tokens), None)
    return (last.prompt_tokens + (last.completion_tokens or 0)) if last else 0


class ChatTab(QWidget):
    context_used = Signal(int, int)  # tokens in the last exchange, n_ctx
    # Emitted on the main thread once a reply's end has been fully handled here. Anything that waits for
    # "the reply is done" should wait for this: the engine's own signals arrive from its thread.
    reply_settled = Signal(int, object)  # message id, Finished or the error text
    # The adapter the conversation on screen answers through ("" for the base model): the status bar names it.
    adapter_shown = Signal(str)
    feedback_saved = Signal(int)  # message id: a thumb or a correction is stored (the training nudge counts them)

    def __init__(self, core: Core, engine: EngineController, models: ModelListModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.core, self.db, self.engine = core, core.db, engine
        self.conversation_id: int | None = None
        self.streaming_id: int | None = None
        # Generation settings the panel does not show (ignore_eos, logit_bias), applied to every reply this tab
        # starts: for benchmarks, screenshots and tests that must force a reply's length instead of hoping for it.
        self.forced_params: dict = {}
        self._default_system_prompt = core.settings["default_system_prompt"]
        self._draft: dict[str, Any] = {"system_prompt": self._default_system_prompt, "params": {}}
        self.adapter_name = ""  # see adapter_shown

        self.conversations = ConversationListModel(self.db, self)
        self.sidebar = ConversationSidebar(self.conversations)
        self.banner = Banner()
        self.view = MessageView()
        self.composer = Composer()
        self.settings_panel = ChatSettingsPanel(models)
        self.settings_panel.remove_adapter_button.clicked.connect(self.remove_adapter)

        center = QWidget()
        center.setObjectName("chatCenter")
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        center_layout.setSpacing(0)
        center_layout.addWidget(self.banner)
        center_layout.addWidget(self.view, 1)
        center_layout.addWidget(self.composer)

        self.columns = ChatColumns(self.sidebar, center, self.settings_panel)
        self.settings_rail, self.settings_panel_action = self.columns.rail, self.columns.panel_action
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.columns)

        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.conversation_selected.connect(self.open_conversation)
        self.sidebar.renamed.connect(self._rename)
        self.sidebar.delete_committed.connect(self._delete)
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.view.regenerate_requested.connect(self.regenerate)
        self.view.edit_submitted.connect(self.edit_and_resend)
        self.view.sibling_requested.connect(self.show_branch)
        self.view.rating_changed.connect(self.rate)
        self.view.correction_requested.connect(self.correct)
        self.settings_panel.settings_changed.connect(self._settings_changed)
        w = engine.worker
        w.token_batch_ready.connect(self._on_tokens)
        w.context_trimmed.connect(self._on_trimmed)
        w.reply_finished.connect(self._on_finished)
        w.reply_failed.connect(self._on_failed)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)

        self.conversations.refresh()
        first = self.conversations.id_at(0)
        if first is not None:
            self.open_conversation(first)
        else:
            self.new_chat()

    def set_settings_collapsed(self, collapsed: bool) -> None:
        self.columns.set_panel_collapsed(collapsed)

    @Slot(str, object)
    def on_setting_changed(self, key: str, value) -> None:
        """A new default system prompt reaches the next new chat, and the one on screen if it is still empty."""
        if key != "default_system_prompt":
            return
        old, self._default_system_prompt = self._default_system_prompt, value
        if self._draft["system_prompt"] == old:  # the user has not written one of their own for this draft
            self._draft["system_prompt"] = value
            if self.conversation_id is None:
                self.settings_panel.system_prompt.setPlainText(value)

    # --- conversations -----------------------------------------------------------------------------------------
    @Slot()
    def new_chat(self) -> None:
        """Start a fresh chat; the row is created when the first message is sent, so empty chats don't pile up."""
        self.sidebar.dismiss_undo()  # a new chat is the next action (a delete's own new chat comes before its Undo)
        self.settings_panel.flush()
        self.conversation_id = None
        self.sidebar.select(None)
        self.view.set_thread([])
        self.context_used.emit(0, 0)
        with self.db.session() as session:
            model = default_model(session)
        self.settings_panel.show_conversation(model.id if model else None, self._draft["system_prompt"], {})
        self._show_adapter()
        self.composer.edit.setFocus()

    @Slot(int)
    def open_conversation(self, conversation_id: int) -> None:
        self.settings_panel.flush()
        with self.db.session() as session:
            conv = convs.get_conversation(session, conversation_id)
            if conv is None:
                return
            model_id, system_prompt, params = conv.model_id, conv.system_prompt, dict(conv.params or {})
        self.conversation_id = conversation_id
        self.settings_panel.show_conversation(model_id, system_prompt, params)
        self._show_adapter()
        self.sidebar.select(conversation_id)
        self.reload_thread()
        self.view.scroll_to_bottom()

    def reload_thread(self) -> None:
        if self.conversation_id is None:
            self.view.set_thread([])
            self.context_used.emit(0, 0)
            return
        with self.db.session() as session:
            thread = convs.thread(session, self.conversation_id)
        self.view.set_thread(thread)
        if self.streaming_id is None:  # the status bar tells this conversation's context, not the last one's
            self.context_used.emit(context_of(thread), 0)

    def _ensure_conversation(self) -> int:
        if self.conversation_id is None:
            self.settings_panel.flush()
            with self.db.session() as session:
                conv = convs.create_conversation(
                    session,
                    system_prompt=self.settings_panel.system_prompt.toPlainText(),
                    model_id=self.settings_panel.selected_model_id(),
                    params=self.settings_panel.values(),
                )
                self.conversation_id = conv.id
        return self.conversation_id

    @Slot(int, str)
    def _rename(self, conversation_id: int, title: str) -> None:
        with self.db.session() as session:
            convs.rename_conversation(session, conversation_id, title)
        self.conversations.refresh()
        self.sidebar.select(self.conversation_id)

    @Slot(int)
    def _delete(self, conversation_id: int) -> None:
        if self.streaming_id is not None and conversation_id == self.conversation_id:
            self.engine.stop(self.streaming_id)
        with self.db.session() as session:
            convs.delete_conversation(session, conversation_id)
        self.conversations.refresh()
        if conversation_id == self.conversation_id:
            self.new_chat()

    def delete_current(self) -> None:
        if self.conversation_id is not None:
            self.sidebar.delete(self.conversation_id)  # the tab then leaves it for a new chat (_delete)

    @Slot(object, str, dict)
    def _settings_changed(self, model_id: int | None, system_prompt: str, params: dict) -> None:
        if self.conversation_id is None:
            self._draft = {"system_prompt": system_prompt, "params": params}
        else:
            with self.db.session() as session:
                current = convs.require_conversation(session, self.conversation_id).params or {}
                if "adapter_id" in current:  # the form does not edit the adapter ("Use in chat" does): keep it
                    params = {**params, "adapter_id": current["adapter_id"]}
                convs.update_conversation_settings(
                    session, self.conversation_id, system_prompt=system_prompt, model_id=model_id, params=params
                )
            self._show_adapter()  # another model: an adapter trained on the old one no longer applies
        if model_id is not None:
            with self.db.session() as session:
                model = get_model(session, model_id)
            if model is not None:
                self.engine.load(model, str(params.get("backend") or "auto"))

    def _show_adapter(self) -> None:
        """Show the adapter the next reply here will come through: core's rule (it exists, and was trained on the
        conversation's model), so the panel and the status bar say what the reply header will say."""
        name = ""
        if self.conversation_id is not None:
            with self.db.session() as session:
                conv = convs.get_conversation(session, self.conversation_id)
                model = get_model(session, conv.model_id) if conv is not None and conv.model_id else None
                model = model or default_model(session)
                adapter = turns.adapter_for(session, conv, model) if conv is not None and model is not None else None
                name = adapter.name if adapter is not None else ""
        self.settings_panel.set_adapter(name or None)
        if name != self.adapter_name:
            self.adapter_name = name
            self.adapter_shown.emit(name)

    @Slot(int)
    def use_adapter(self, adapter_id: int) -> None:
        """Replies in this conversation (a new one if none is open) now come from the adapter, on its base model."""
        self.settings_panel.flush()
        cid = self._ensure_conversation()
        with self.db.session() as session:
            use_in_conversation(session, cid, adapter_id)
        self.open_conversation(cid)
        model_id = self.settings_panel.selected_model_id()
        with self.db.session() as session:
            model = get_model(session, model_id) if model_id is not None else None
        if model is not None:
            self.engine.load(model, str(self.settings_panel.values().get("backend") or "auto"))

    @Slot()
    def remove_adapter(self) -> None:
        if self.conversation_id is None:
            return
        with self.db.session() as session:
            use_in_conversation(session, self.conversation_id, None)
        self._show_adapter()

    @Slot(int)
    def use_model(self, model_id: int) -> None:
        """Switch this conversation (or the next new one) to a model; the engine unloads the old one first."""
        self.settings_panel.select_model(model_id)
        self.settings_panel.flush()

    # --- replies -----------------------------------------------------------------------------------------------
    def _begin(self, start) -> None:
        self.sidebar.dismiss_undo()  # starting a reply is the next action: Undo of a delete is no longer offered
        if self.streaming_id is not None:
            self.banner.show_message("Wait for the current reply to finish, or press Stop.")
            return
        try:
            pending = start()
        except (turns.NoModelError, ValueError, LookupError) as exc:
            self.banner.show_message(str(exc))
            return
        if self.forced_params:  # this reply only, like `hearth chat --ignore-eos`; nothing stored changes
            pending = replace(pending, params=replace(pending.params, **self.forced_params))
        self.streaming_id = pending.assistant_id
        self.composer.set_generating(True)
        self.conversations.refresh()
        self.sidebar.select(self.conversation_id)
        self.reload_thread()
        self.view.scroll_to_bottom()
        self.engine.generate(pending)

    @Slot(str)
    def send(self, text: str) -> None:
        cid = self._ensure_conversation()
        self._begin(lambda: turns.start_turn(self.db, cid, text))

    @Slot()
    def stop(self) -> None:
        if self.streaming_id is not None:
            self.engine.stop(self.streaming_id)

    @Slot(int)
    def regenerate(self, message_id: int) -> None:
        self._begin(lambda: turns.start_regenerate(self.db, message_id))

    @Slot(int, str)
    def edit_and_resend(self, message_id: int, text: str) -> None:
        self._begin(lambda: turns.start_edit(self.db, message_id, text))

    @Slot(int)
    def show_branch(self, message_id: int) -> None:
        with self.db.session() as session:
            convs.select_branch(session, message_id)
        self.reload_thread()

    @Slot(int, int)
    def rate(self, message_id: int, rating: int) -> None:
        with self.db.session() as session:
            rate_reply(session, message_id, rating)
        self.reload_thread()
        self.feedback_saved.emit(message_id)

    @Slot(int)
    def correct(self, message_id: int) -> None:
        with self.db.session() as session:
            message = session.get(Message, message_id)
            original = message.content
            correction = message.feedback.correction if message.feedback else None
        dialog = CorrectionDialog(original, correction, self)
        if dialog.exec() != QDialog.Accepted:
            return
        self.save_correction(message_id, dialog.text())

    def save_correction(self, message_id: int, text: str) -> None:
        with self.db.session() as session:
            correct_reply(session, message_id, text)
        self.reload_thread()
        self.feedback_saved.emit(message_id)

    # --- engine events (main thread) ---------------------------------------------------------------------------
    @Slot(int, str)
    def _on_tokens(self, message_id: int, text: str) -> None:
        self.view.append_text(message_id, text)

    @Slot(int, object)
    def _on_trimmed(self, message_id: int, event: ContextTrimmed) -> None:
        widget = self.view.widget_for(message_id)
        if widget is not None:
            widget.set_streaming_note(trimmed_note(self.db, event))

    @Slot(int, object)
    def _on_finished(self, message_id: int, event: Finished) -> None:
        self._reply_done(message_id)
        self.context_used.emit(event.prompt_tokens + event.completion_tokens, 0)
        self.reply_settled.emit(message_id, event)

    @Slot(int, str)
    def _on_failed(self, message_id: int, message: str) -> None:
        self._reply_done(message_id)
        self.banner.show_message(message)
        self.reply_settled.emit(message_id, message)

    def _reply_done(self, message_id: int) -> None:
        if message_id == self.streaming_id:
            self.streaming_id = None
            self.composer.set_generating(False)
        self.reload_thread()
        self.conversations.refresh()
        self.sidebar.select(self.conversation_id)

    @Slot(object)
    def _on_model_loaded(self, info) -> None:
        self.settings_panel.set_template(info.template_name, info.template_origin)

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self.banner.show_message(message)

    def shutdown(self) -> None:
        self.settings_panel.flush()
