from PySide6.QtCore import QPoint, Qt

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


def _link_point(qtbot, browser, href):
    """Where a link is on screen (the middle of its text, in the browser's viewport), once the layout has it there."""
    from PySide6.QtGui import QTextCursor

    def point():
        doc, cursor = browser.document(), QTextCursor(browser.document())
        positions = []
        for pos in range(doc.characterCount() - 1):
            cursor.setPosition(pos + 1)  # charFormat() is the format of the character before the cursor
            if cursor.charFormat().anchorHref() == href:
                positions.append(pos)
        assert positions, f"no link to {href}"
        cursor.setPosition(positions[len(positions) // 2])
        return browser.cursorRect(cursor).center() + QPoint(2, 0)

    qtbot.waitUntil(lambda: browser.anchorAt(point()) == href)
    return point()


def test_copy_on_a_code_block_copies_exactly_that_blocks_code(qtbot):
    from PySide6.QtWidgets import QApplication

    first = "def is_palindrome(word: str) -> bool:\n    return word == word[::-1]"
    second = "ls -la\n\n  echo 'two blank-separated lines, indented'"
    text = f"Two blocks:\n\n```python\n{first}\n```\n\nand one with no language:\n\n```\n{second}\n```\n\nThe end."
    view = MessageView()
    qtbot.addWidget(view)
    view.resize(700, 600)
    view.show()
    view.set_thread([_msg(1, content=text)])
    browser = view.widget_for(1).body
    assert browser.code_blocks == (first, second)
    clipboard = QApplication.clipboard()
    for index, code in ((1, second), (0, first)):
        clipboard.setText("something else")
        with qtbot.waitSignal(browser.code_copied, timeout=5000) as copied:
            qtbot.mouseClick(browser.viewport(), Qt.LeftButton, pos=_link_point(qtbot, browser, f"hearth-copy:{index}"))
        assert copied.args == [index]
        assert clipboard.text() == code  # the code only: no "python" tag, no "Copy", nothing highlighted away
    assert view.widget_for(1).body.markdown == text  # the message is unchanged; the whole-message Copy still has it
