"""Names, titles, replies and errors come from files, the hub and the model: Qt must show them as text, never as HTML.

QLabel and QMessageBox guess rich text by default, so a model named "<img src=x>" would be rendered as an image.
"""

import ast
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextImageFormat
from PySide6.QtWidgets import QLabel, QMessageBox

import app.ui
from app.core.library.registry import default_model, rename_model
from app.core.storage import conversations as convs
from app.core.storage.models import MessageStatus
from app.ui.app import build_window, load_default_model
from app.ui.chat.message_widget import MarkdownView
from app.ui.plain_text import message_box

MARKUP = '<b>bold</b><img src="x">'
# Labels that show markup Hearth writes itself, by objectName, each with its reason. None today.
OWN_MARKUP_LABELS: set[str] = set()


@pytest.fixture
def marked_up_window(qtbot, core):
    with core.db.session() as session:
        model = default_model(session)
        name = rename_model(session, model.id, f"{MARKUP} model")
        conv = convs.create_conversation(session, title=f"{MARKUP} chat", model_id=model.id)
        question = convs.add_message(session, conv.id, role="user", content=f"{MARKUP} question")
        convs.add_message(session, conv.id, role="assistant", parent_id=question.id, content=f"{MARKUP} answer",
                          status=MessageStatus.ERROR, error=f"{MARKUP} failed", model_name=name, backend="llama.cpp")
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    with qtbot.waitSignal(engine.worker.model_loaded, timeout=60000):
        load_default_model(win)
    for tab in (win.models_tab, win.monitor_tab, win.training_tab, win.chat):  # each tab builds what it shows
        win.tabs.setCurrentWidget(tab)
    win.models_tab.library.table.selectRow(0)
    yield win
    win.models_tab.shutdown()
    engine.shutdown()


def test_no_label_in_the_window_renders_markup_from_data(marked_up_window):
    win = marked_up_window
    labels = win.findChildren(QLabel)
    showing = [label for label in labels if MARKUP in label.text()]
    assert {win.model_label, win.models_tab.library.details.title} <= set(showing)
    assert any("failed" in label.text() for label in showing) and len(showing) >= 4, [l.text() for l in showing]
    rich = [f"{label.objectName() or type(label.parent()).__name__}: {label.text()[:60]!r}" for label in labels
            if label.textFormat() != Qt.PlainText and label.objectName() not in OWN_MARKUP_LABELS]
    assert not rich, "these labels would render HTML:\n" + "\n".join(rich)


def test_message_boxes_show_their_text_as_text(qtbot):
    box = message_box(None, "Remove model", f"Remove {MARKUP}?", QMessageBox.Question)
    qtbot.addWidget(box)
    assert box.textFormat() == Qt.PlainText and box.text() == f"Remove {MARKUP}?"


def test_a_reply_with_html_or_an_image_is_shown_as_text(qtbot):
    view = MarkdownView()
    qtbot.addWidget(view)
    reply = 'Look: <img src=x onerror="alert(1)"> and <b>this</b>\n\n![a cat](cat.png)'
    view.set_markdown(reply)
    text = view.toPlainText()
    assert '<img src=x onerror="alert(1)">' in text and "<b>this</b>" in text
    fragments = []
    block = view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragments.append(it.fragment().charFormat())
            it += 1
        block = block.next()
    assert not any(f.isImageFormat() and QTextImageFormat(f).name() for f in fragments), "no image is loaded"
    assert "a cat" in text, "an image in a reply is shown as its description"


def test_ui_builds_labels_and_message_boxes_through_the_plain_text_helpers():
    """A bare QLabel or a QMessageBox.warning(...) guesses rich text; app.ui.plain_text makes them plain."""
    root = Path(app.ui.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "plain_text.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Name) and f.id in ("QLabel", "QMessageBox"):
                found.append(f"{path.relative_to(root)}:{node.lineno} {f.id}(...)")
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "QMessageBox" \
                    and f.attr in ("warning", "information", "question", "critical", "about"):
                found.append(f"{path.relative_to(root)}:{node.lineno} QMessageBox.{f.attr}(...)")
    assert not found, "use plain_label / message_box from app.ui.plain_text:\n" + "\n".join(found)
