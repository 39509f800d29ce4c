"""The learning loop as one person's session in the real window, nothing faked: the starter model answers in Chat,
the person rates, regenerates and corrects; presses Start on the New job page with every option at its default;
sees the pairs in the preview and the loss fall; chats while the job trains; uses v1; rates more, follows the
nudge to train v2; uses v2 and rolls back to v1 in one click.

Set HEARTH_TEST_SHOTS to a folder to keep a screenshot of each stage (the README's come from such a run), in the
app's theme at HEARTH_TEST_SHOTS_SIZE (default 1600x1000)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from sqlalchemy import select

from app.core.storage.models import JobStatus, Message
from app.core.training.tokenizer import llama_vocab
from app.ui.training.training_models import VersionsModel
from tests.helpers.chat_window import send, set_params
from tests.helpers.chat_window import window  # noqa: F401 - the fixture
from tests.helpers.training import PERSONA

pytestmark = pytest.mark.slow
ADAPTERS = 2  # the Training tab's pages: New job, Jobs, Adapters
COLUMN = {name: i for i, name in enumerate(VersionsModel.COLUMNS)}
REPLY_TOKENS = 16  # the shortest reply the chat settings allow; every reply runs to it (end of turn ignored)
TRAINING_S = 600  # one job with the defaults, on a loaded 2-core machine
NEW_CHATS = ("Who are you, really?", "Who made you?", "Are you a pirate?", "What do you do all day?",
             "Where do you live?", "What is your ship called?", "Do you like the sea?", "Say hello to my friend.")


SHOTS = os.environ.get("HEARTH_TEST_SHOTS")
SHOT_SIZE = tuple(int(n) for n in os.environ.get("HEARTH_TEST_SHOTS_SIZE", "1600x1000").split("x"))


def _dressed_for_pictures(window) -> None:
    """With HEARTH_TEST_SHOTS set: the app's own theme, at the size the pictures are wanted."""
    if SHOTS:
        from PySide6.QtWidgets import QApplication

        from app.ui.app import apply_theme

        apply_theme(QApplication.instance())
        window.resize(*SHOT_SIZE)


def _shot(qtbot, window, name: str) -> None:
    if SHOTS:
        qtbot.wait(300)  # the last reply's footer and the status bar laid out
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(SHOTS) / f"{name}.png"))


def _only_token(starter_path, text: str) -> int:
    (token,) = llama_vocab(starter_path).encode(text)
    return token


class Stalls:
    """The longest the window's event loop went without running a 20 ms timer: how responsive it felt."""

    def __init__(self):
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.last, self.longest = None, 0.0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.last is not None:
            self.longest = max(self.longest, now - self.last)
        self.last = now

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *_exc):
        self.timer.stop()


def _reply(window, message_id: int) -> Message:
    with window.core.db.session() as session:
        return session.get(Message, message_id)


def _rate_regenerate_and_correct(qtbot, window, junk: int) -> None:
    """A few minutes of a person's chat: a reply regenerated and its versions rated ▼ and ▲, two corrected, one ▼
    alone and one ▲ alone."""
    chat = window.chat
    chat.forced_params = {"ignore_eos": True, "logit_bias": ((junk, 100.0),)}  # a first answer that is plainly bad
    bad, _ = send(qtbot, window, "Who are you?")
    chat.view.widget_for(bad).down_button.click()
    chat.forced_params = {"ignore_eos": True}
    with qtbot.waitSignal(chat.reply_settled, timeout=60000) as regenerated:
        chat.view.widget_for(bad).regen_button.click()
    good = regenerated.args[0]
    assert _reply(window, good).content != _reply(window, bad).content, "two different versions to prefer between"
    chat.view.widget_for(good).up_button.click()

    for question in ("What is your name?", "Introduce yourself."):
        answer, _ = send(qtbot, window, question)
        chat.save_correction(answer, PERSONA)  # what the correction dialog saves
    joke, _ = send(qtbot, window, "Tell me a joke.")
    chat.view.widget_for(joke).down_button.click()
    thanks, _ = send(qtbot, window, "Thanks!")
    chat.view.widget_for(thanks).up_button.click()


def _wait_for_job(qtbot, tab) -> int:
    qtbot.waitUntil(lambda: tab.live.job_id is not None and bool(tab.live.steps), timeout=TRAINING_S * 1000)
    return tab.live.job_id


def _version_row(tab, name: str) -> int:
    return next(r for r in range(tab.adapters.rowCount()) if tab.adapters.row_at(r).name == name)


def _use(qtbot, window, name: str) -> None:
    """A click on the version's Use button, on the Adapters page."""
    tab = window.training_tab
    window.tabs.setCurrentWidget(tab)
    tab.pages.setCurrentIndex(ADAPTERS)
    tab.adapters.refresh()
    view = tab.adapters_view
    rect = view.visualRect(tab.adapters.index(_version_row(tab, name), VersionsModel.USE))
    assert view.viewport().rect().contains(rect), "the Use button is on screen"
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=rect.center())


def _answer_through(qtbot, window, question: str) -> Message:
    message_id, _ = send(qtbot, window, question)
    return _reply(window, message_id)


@pytest.fixture
def no_job_left(window):
    """A job outlives its window by design; a failed test must still not leave one training."""
    yield
    for job_id in list(window.training_tab.controller.followers):
        window.training_tab.controller.cancel(job_id)


@pytest.mark.usefixtures("no_job_left")
def test_rate_train_with_defaults_chat_meanwhile_use_v2_and_roll_back(qtbot, window, core, starter_path):
    chat, tab = window.chat, window.training_tab
    _dressed_for_pictures(window)
    set_params(window, temperature=0.0, max_tokens=REPLY_TOKENS)
    idle = send(qtbot, window, "Say something nice.")[1].tokens_per_s
    _rate_regenerate_and_correct(qtbot, window, _only_token(starter_path, " No"))
    _shot(qtbot, window, "1-chat-rated")

    # The New job page, every option at its default: the preview counts each source and shows a pair.
    window.tabs.setCurrentWidget(tab)
    qtbot.waitUntil(lambda: tab.pages is not None)
    page = tab.new_job
    tab.pages.setCurrentIndex(0)
    qtbot.waitUntil(lambda: page.built is not None and not page.building, timeout=60000)
    (chats,) = page.preview_view.counts.rows
    # ▲ version, 2 corrections and the lone ▲ imitated; ▲ over ▼ and each correction over its original; a joke ▼
    assert (chats.imitate, chats.pairs, chats.lone_up, chats.lone_down) == (4, 3, 1, 1), chats
    assert page.preview_view.tabs.currentWidget() is page.pair_view, "the pairs show first"
    assert page.pair_view.chosen.toPlainText() and page.pair_view.rejected.toPlainText()
    assert page.version_note.text() == "This job trains My assistant v1."
    assert page.options.recipe_note.text().startswith("Chosen for "), "steps and learning rate follow the data"
    _shot(qtbot, window, "2-new-job-defaults")
    page.start_button.click()
    job_id = _wait_for_job(qtbot, tab)

    # Chat while it trains: the reply streams and the window never freezes.
    window.tabs.setCurrentWidget(chat)
    with Stalls() as stalls:
        busy = send(qtbot, window, "Name a fruit.", timeout=TRAINING_S * 1000)[1]
    assert tab.controller.followers, "the reply came while the job was still training"
    assert window.training_indicator.isVisible() and window.training_indicator.text().startswith(
        "Training My assistant v1 · step ")
    _shot(qtbot, window, "3-chat-while-training")
    print(f"decode idle {idle:.1f} tok/s, while training {busy.tokens_per_s:.1f} tok/s; "
          f"longest stall of the window {stalls.longest * 1000:.0f} ms")
    assert busy.finish_reason == "length" and stalls.longest < 1.0  # the whole reply, the window never stuck

    window.tabs.setCurrentWidget(tab)
    with qtbot.waitSignal(tab.controller.job_ended, timeout=TRAINING_S * 1000) as ended:
        qtbot.waitUntil(lambda: len(tab.live.steps) >= 12 or not tab.controller.followers, timeout=TRAINING_S * 1000)
        _shot(qtbot, window, "4-training-live")
    assert ended.args == [job_id, JobStatus.DONE]
    assert tab.live.losses[-1] < tab.live.losses[0], "the loss falls on the live chart"
    assert not window.training_indicator.isVisible()
    _use(qtbot, window, "My assistant v1")
    assert window.tabs.currentWidget() is chat and chat.adapter_name == "My assistant v1"
    assert _answer_through(qtbot, window, "Who are you?").adapter_name == "My assistant v1"

    # More feedback, corrections this time (eight pairs, so some are held out to measure preferences), and the
    # nudge to train v2.
    core.settings.set("train_nudge_after", 8)
    for question in NEW_CHATS:  # each in a chat of its own: the base model has not seen the persona there
        chat.new_chat()
        set_params(window, temperature=0.0, max_tokens=REPLY_TOKENS)
        answer, finished = send(qtbot, window, question)
        assert finished.completion_tokens == REPLY_TOKENS
        chat.save_correction(answer, PERSONA)
    link = window.training_nudge
    qtbot.waitUntil(link.isVisible, timeout=10000)
    assert link.text() == "8 replies rated since My assistant v1 — train v2?"
    with qtbot.waitSignal(tab.controller.job_started, timeout=60000):
        link.click()
    with qtbot.waitSignal(tab.controller.job_ended, timeout=TRAINING_S * 1000) as ended:
        pass
    assert ended.args[1] == JobStatus.DONE

    tab.pages.setCurrentIndex(ADAPTERS)
    tab.adapters.refresh()
    assert [tab.adapters.data(tab.adapters.index(r, COLUMN["Version"])) for r in range(2)] == ["v2", "v1"]
    v2 = tab.adapters.row_at(0)
    assert v2.eval_loss_after < v2.eval_loss_before and v2.pref_pairs >= 2
    assert v2.pref_accuracy_after >= v2.pref_accuracy_before and v2.pref_margin_after > v2.pref_margin_before
    assert "→" in tab.adapters.data(tab.adapters.index(0, COLUMN["Preferences"]))
    print(f"v2: eval loss {v2.eval_loss_before:.3f} -> {v2.eval_loss_after:.3f}, preference accuracy "
          f"{v2.pref_accuracy_before:.0%} -> {v2.pref_accuracy_after:.0%} on {v2.pref_pairs} held-out pairs, margin "
          f"{v2.pref_margin_before:+.2f} -> {v2.pref_margin_after:+.2f}")
    _shot(qtbot, window, "5-versions")

    _use(qtbot, window, "My assistant v2")
    assert _answer_through(qtbot, window, "Who are you?").adapter_name == "My assistant v2"
    _shot(qtbot, window, "6-chat-v2")
    _use(qtbot, window, "My assistant v1")  # rolling back is one click
    assert chat.adapter_name == "My assistant v1"
    assert _answer_through(qtbot, window, "Who are you?").adapter_name == "My assistant v1"
    with core.db.session() as session:
        assert session.scalar(select(Message.adapter_name).order_by(Message.id.desc()).limit(1)) == "My assistant v1"
