"""A reply written through an adapter says so: its header and the status bar name the adapter, and once the adapter
is removed the status bar and new replies name the base model only (old replies keep the adapter's name)."""

from PySide6.QtCore import Qt

from tests.helpers.chat_window import send, set_params
from tests.helpers.chat_window import window  # noqa: F401 - the fixture
from tests.helpers.tiny_adapter import register_tiny_adapter

ADAPTER = "My persona"


def test_the_reply_header_and_the_status_bar_name_the_adapter(qtbot, window, tmp_path):
    chat = window.chat
    base = window.chat.settings_panel.model_combo.models.index(0).data(Qt.DisplayRole).replace("  (default)", "")
    adapter_id = register_tiny_adapter(window.core, tmp_path, ADAPTER)
    set_params(window, max_tokens=8)
    before_id, _ = send(qtbot, window, "Hello")
    assert f"+ {ADAPTER}" not in window.model_label.text()

    window.training_tab.use_adapter_requested.emit(adapter_id)  # the Training tab's "Use in chat"
    assert chat.adapter_name == ADAPTER and not chat.settings_panel.adapter_row.isHidden()
    assert window.model_label.text().startswith(f"{base} + {ADAPTER} · ")
    through_id, _ = send(qtbot, window, "Who are you?")
    header = chat.view.widget_for(through_id).header.text()
    assert header == f"{base} + {ADAPTER}"
    assert chat.view.widget_for(before_id).header.text() == base  # the earlier reply came from the base model
    assert f"Switched to {base} + {ADAPTER}" in chat.view.widget_for(through_id).switch_note.text()

    adapter_chat = chat.conversation_id
    chat.new_chat()  # another conversation, with no adapter: the status bar follows the chat on screen
    assert f"+ {ADAPTER}" not in window.model_label.text() and window.model_label.text().startswith(base)
    chat.open_conversation(adapter_chat)
    assert window.model_label.text().startswith(f"{base} + {ADAPTER} · ")

    qtbot.mouseClick(chat.settings_panel.remove_adapter_button, Qt.LeftButton)
    assert window.model_label.text().startswith(f"{base} · ") and ADAPTER not in window.model_label.text()
    after_id, _ = send(qtbot, window, "And now?")
    assert chat.view.widget_for(after_id).header.text() == base
    assert chat.view.widget_for(through_id).header.text() == f"{base} + {ADAPTER}"  # history keeps its author
