"""The New job page's preview of rated, corrected and regenerated replies: what each source gave, and the pairs
side by side, built through the real path (the starter model's tokenizer, real SQLite)."""

import json

import pytest

from app.ui.models_list import ModelListModel
from app.ui.training.dataset_preview import SourceRow
from app.ui.training.new_job_page import NewJobPage
from app.ui.training.pair_view import NO_PAIRS
from tests.helpers.feedback import BAD, CAPITAL, GOOD, GREET, PIRATE, PLAIN, rate_and_regenerate

SMALL_SCREEN_CLIENT = (1016, 640)  # a 1024x680 screen less a title bar and frame (test_window_fits_small_screen)


@pytest.fixture
def page(qtbot, core):
    widget = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.resize(1024, 560)
    return widget


def _previewed(qtbot, page):
    page.preview()
    qtbot.waitUntil(lambda: page.built is not None and not page.building, timeout=60000)
    return page


def test_the_preview_counts_what_each_source_gave(qtbot, page, tmp_path):
    prefs = tmp_path / "prefs.jsonl"
    prefs.write_text(json.dumps({"prompt": [{"role": "user", "content": "Name a colour."}], "chosen": "Blue.",
                                 "rejected": "Seven."}) + "\n")
    rate_and_regenerate(page.core)
    page.add_files([str(prefs)])
    _previewed(qtbot, page)
    rows = {r.source: r for r in page.preview_view.counts.rows}
    # Chats: the ▲ reply, the correction and the lone ▲ imitated; ▲ over ▼ and the correction over its original
    # paired; the joke's ▼ alone
    assert rows["Chats"] == SourceRow("Chats", imitate=3, pairs=2, lone_up=1, lone_down=1)
    assert rows["prefs.jsonl"] == SourceRow("prefs.jsonl", imitate=0, pairs=1, lone_up=0, lone_down=0)
    view = page.preview_view.counts_view
    assert view.isVisibleTo(page) and view.model().index(0, 0).data() in rows
    assert page.preview_view.tabs.tabText(page.preview_view.PAIRS) == "Pairs (3)"
    assert "pair" in page.summary.text()


def test_a_pair_is_shown_side_by_side_and_stepped_through(qtbot, page):
    rate_and_regenerate(page.core)
    page.show()
    _previewed(qtbot, page)
    pairs = page.pair_view
    assert page.preview_view.tabs.currentWidget() is pairs, "pairs first when there are any"
    shown = set()
    for _ in range(len(pairs.pairs)):
        prompt = pairs.prompt.text()
        assert prompt.startswith("Prompt") and "…" not in prompt
        shown.add((prompt.split(": ", 1)[1], pairs.chosen.toPlainText(), pairs.rejected.toPlainText()))
        assert pairs.position.text().startswith(f"Pair {pairs.index + 1} of {len(pairs.pairs)}")
        pairs.next_button.click()
    assert shown == {(CAPITAL, GOOD, BAD), (GREET, PIRATE, PLAIN)}
    assert not pairs.next_button.isEnabled() and pairs.previous_button.isEnabled()
    pairs.previous_button.click()
    assert pairs.index == len(pairs.pairs) - 2
    assert pairs.chosen.isVisible() and pairs.rejected.isVisible()
    assert pairs.chosen.x() < pairs.rejected.x() and pairs.chosen.y() == pairs.rejected.y(), "side by side"
    assert pairs.prompt.y() < pairs.chosen.y(), "the prompt above"


def test_without_pairs_the_pair_view_says_how_to_get_some(qtbot, page, tmp_path):
    sft = tmp_path / "sft.jsonl"
    sft.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                            {"role": "assistant", "content": "Hello!"}]}) + "\n")
    page.add_files([str(sft)])
    page.show()
    _previewed(qtbot, page)
    pairs = page.pair_view
    assert not pairs.empty.isHidden() and pairs.body.isHidden() and pairs.empty.text() == NO_PAIRS
    assert page.preview_view.tabs.tabText(page.preview_view.PAIRS) == "Pairs (0)"
    assert page.preview_view.tabs.currentIndex() == page.preview_view.EXAMPLES


def test_opening_the_page_with_rated_replies_previews_them_at_once(qtbot, core):
    rate_and_regenerate(core)
    widget = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.built is not None, timeout=60000)
    assert len(widget.pair_view.pairs) == 2


def test_a_stale_preview_is_dropped(qtbot, page):
    """A build that started before the sources changed must not land as the preview of the new sources."""
    from PySide6.QtCore import QThreadPool

    rate_and_regenerate(page.core)
    page.preview()
    assert page.building
    page.use_conversations.setChecked(False)  # changed while the first build runs
    assert not page.building and page.preview_button.isEnabled() and "changed" in page.summary.text()
    QThreadPool.globalInstance().waitForDone(60000)
    qtbot.wait(50)  # the finished build's answer is delivered (and dropped)
    assert page.built is None and page.pair_view.pairs == []


def test_in_the_window_the_engine_tokenizes_and_the_preview_fits_a_small_screen(qtbot, core):
    """The window's own path (its engine tokenizes the GGUF text), and with a preview in, the page still fits a
    1024x680 screen."""
    from app.ui.app import build_window

    rate_and_regenerate(core)
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        win.resize(1024, 680)
        win.show()
        win.tabs.setCurrentWidget(win.training_tab)
        qtbot.waitUntil(lambda: win.training_tab.pages is not None)
        page = win.training_tab.new_job
        qtbot.waitUntil(lambda: page.built is not None, timeout=60000)
        assert [(r.source, r.imitate, r.pairs) for r in page.preview_view.counts.rows] == [("Chats", 3, 2)]
        hint = win.minimumSizeHint()
        assert hint.width() <= SMALL_SCREEN_CLIENT[0] and hint.height() <= SMALL_SCREEN_CLIENT[1], hint.toTuple()
        assert page.pair_view.chosen.height() >= 40 and page.pair_view.rejected.isVisible()
    finally:
        engine.shutdown()
        win.close()


def test_a_held_out_pair_says_so_and_a_long_prompt_is_cut(qtbot):
    from app.core.training.examples import Turn
    from app.core.training.preferences import PreferencePair
    from app.ui.training.pair_view import PROMPT_CHARS, PairView

    long_prompt = "word " * 200
    pairs = [PreferencePair((Turn("user", "Hi"),), "Hello!", "Go away.", "conversations", "conversation 1", "g1"),
             PreferencePair((Turn("system", "Be kind."), Turn("user", "Hi"), Turn("assistant", "Hello!"),
                             Turn("user", long_prompt)), "Sure.", "No.", "conversations", "conversation 2", "g2")]
    view = PairView()
    qtbot.addWidget(view)
    view.set_pairs(pairs, held_out=[False, True])
    assert "held out" not in view.position.text() and view.prompt.text() == "Prompt: Hi"
    view.next_button.click()
    assert view.position.text().endswith("held out to measure the adapter")
    prompt = view.prompt.text()
    assert prompt.startswith("Prompt (after 2 earlier messages): word") and prompt.endswith("…")
    assert len(prompt) < PROMPT_CHARS + 40 and view.prompt.toolTip() == long_prompt
    view.show_pair(99)  # past the end: the last pair stays
    assert view.index == 1 and view.chosen.toPlainText() == "Sure."


def test_coming_back_after_more_ratings_previews_again(qtbot, core):
    from app.core.storage import conversations as convs

    rate_and_regenerate(core)
    widget = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitUntil(lambda: widget.built is not None, timeout=60000)
    first = widget.built
    widget.hide()
    widget.show()  # nothing new: the preview stands
    assert widget.built is first and not widget.building
    widget.hide()
    with core.db.session() as session:  # meanwhile, in Chat: one more regenerated reply, its versions rated
        chat = convs.create_conversation(session)
        u = convs.add_message(session, chat.id, role="user", content="Name a colour.")
        worse = convs.add_message(session, chat.id, role="assistant", content="Seven.", parent_id=u.id)
        better = convs.add_message(session, chat.id, role="assistant", content="Blue.", parent_id=u.id)
        convs.set_feedback(session, worse.id, rating=-1)
        convs.set_feedback(session, better.id, rating=1)
    widget.show()
    qtbot.waitUntil(lambda: widget.built is not None and widget.built is not first, timeout=60000)
    assert len(widget.pair_view.pairs) == 3
