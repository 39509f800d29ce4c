from app.core.storage.conversations import ThreadMessage
from app.ui.chat.markdown_html import to_html
from app.ui.chat.message_view import MessageView


def _msg(i, role="assistant", content="line\n\n" * 8, status="complete"):
    return ThreadMessage(i, i - 1 or None, role, content, status, None, None, "m", "llama.cpp", None, None, None, None)


def test_follows_the_bottom_while_streaming_unless_the_reader_scrolled_up(qtbot):
    view = MessageView()
    qtbot.addWidget(view)
    view.resize(600, 400)
    view.show()
    view.set_thread([_msg(i) for i in range(1, 12)] + [_msg(12, status="streaming", content="")])
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0)
    view.scroll_to_bottom()
    bar = view.verticalScrollBar()
    for _ in range(5):
        view.append_text(12, "more streamed text\n\n")
        qtbot.wait(10)
    assert bar.value() == bar.maximum()
    bar.setValue(0)  # the reader scrolls up to re-read something
    assert view.follow is False
    for _ in range(5):
        view.append_text(12, "even more text\n\n")
        qtbot.wait(10)
    assert bar.value() == 0
    bar.setValue(bar.maximum())  # back to the bottom: following again
    view.append_text(12, "the end\n\n")
    qtbot.wait(10)
    assert view.follow and bar.value() == bar.maximum()


def test_markdown_renders_code_blocks_monospace_and_unclosed_fences_as_code():
    html = to_html("Here:\n\n```python\nprint('hi')\n```\n")
    assert "<pre" in html and "monospace" in html and "print" in html
    streaming = to_html("Start:\n\n```js\nconsole.log(1)")
    assert "<pre" in streaming
    assert "<script" not in to_html("<script>alert(1)</script>")


def test_messages_of_another_thread_leave_the_screen_at_once(qtbot):
    """Switching threads must not leave the old thread's cards on screen until the event loop deletes them (a
    screenshot taken before that showed an old question under a new conversation)."""
    from app.ui.chat.message_widget import MessageWidget

    view = MessageView()
    qtbot.addWidget(view)
    view.show()
    view.set_thread([_msg(1, role="user", content="old question")])
    view.set_thread([_msg(5, role="user", content="new question"), _msg(6)])
    # no event processing in between: what is laid out now is what the user sees
    shown = [view._layout.itemAt(i).widget() for i in range(view._layout.count())]
    cards = [w for w in shown if isinstance(w, MessageWidget)]
    assert [w.message.id for w in cards] == [5, 6]
    assert all(not w.isVisible() for w in view._content.findChildren(MessageWidget) if w.message.id == 1)
