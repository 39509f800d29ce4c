"""The nudge to train the next version: shown in the Training tab once enough replies are rated since the latest
version, one click on "Train v3" starts a job with the last job's settings and the assistant's name, the nudge goes
while it runs and counts from the new version after; and, opted in, the idle computer starts it unasked.

The jobs' children are real processes that only sleep (the job rows, run folders and datasets are the real ones);
the idle clock is fed made-up hardware readings, so nothing waits for two quiet minutes."""

import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from app.core.storage.models import JobStatus, TrainingJob, utcnow
from app.core.training import runner
from app.core.training.dataset import DatasetSpec
from app.core.training.idle import IdleClock
from app.ui.models_list import ModelListModel
from app.ui.settings.settings_events import SettingsEvents
from app.ui.training.training_tab import TrainingTab
from tests.helpers.training import PERSONA, QUESTIONS
from tests.helpers.versions import add_job, add_version, rate

HOUR = timedelta(hours=1)
LAST_OPTIONS = {"fit_to_data": True, "max_steps": 40, "learning_rate": 5e-4, "eval_every": 10, "lora_rank": 8,
                "lora_alpha": 16, "preference_beta": 0.25, "seed": 7}


@pytest.fixture
def tab(qtbot, core, monkeypatch):
    monkeypatch.setattr(runner, "worker_command",
                        lambda *_a, **_k: [sys.executable, "-c", "import time; time.sleep(120)"])
    widget = TrainingTab(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitUntil(lambda: widget.pages is not None)
    yield widget
    for job_id in list(widget.controller.followers):
        widget.controller.cancel(job_id)
    widget.shutdown()


def _two_versions_and_ratings(core, ratings: int) -> None:
    now = utcnow()
    with core.db.session() as session:
        add_version(session, "My assistant", 1, now - 3 * HOUR)
        job = add_job(session, "My assistant", LAST_OPTIONS, DatasetSpec(conversation_ids=[999], seed=7))
        add_version(session, "My assistant", 2, now - 2 * HOUR, job=job)
    _rate(core, ratings)


def _rate(core, count: int, start: int = 0) -> None:
    with core.db.session() as session:
        for i in range(start, start + count):
            rate(session, question=f"{QUESTIONS[i % len(QUESTIONS)]} ({i})", reply=PERSONA)


def _sample(cpu: float, at: float):
    return SimpleNamespace(cpu=SimpleNamespace(percent=cpu), time=at)


def test_train_v3_starts_the_next_version_with_the_last_jobs_settings(tab, core, qtbot):
    core.settings.set("train_nudge_after", 3)
    _two_versions_and_ratings(core, 3)
    tab.nudge.refresh()
    bar = tab.nudge_bar
    assert bar.isVisible() and bar.text.text() == "3 replies rated since My assistant v2 — train v3?"
    assert bar.button.text() == "Train v3"

    with qtbot.waitSignal(tab.controller.job_started, timeout=60000) as started:
        bar.button.click()
    job_id = started.args[0]
    assert not bar.isVisible() and tab.nudge.current is None, "no nudge while the version trains"
    with core.db.session() as session:
        job = session.get(TrainingJob, job_id)
        assert (job.assistant, job.name, job.status) == ("My assistant", "My assistant v3", JobStatus.RUNNING)
        assert (job.options["lora_rank"], job.options["preference_beta"], job.options["seed"]) == (8, 0.25, 7)
        assert job.options["fit_to_data"] and job.options["max_steps"] not in (0, 40), \
            "the recipe chose the steps again, for the new data"
        spec = job.dataset["spec"]
        assert spec["conversations"] and spec["conversation_ids"] is None, "every rated reply, not the last chats"
        assert job.dataset["train"] + job.dataset["eval"] >= 3
    assert tab.pages.currentIndex() == 1 and tab.live.job_id == job_id, "the job shows as it starts"

    tab.controller.cancel(job_id)
    assert bar.isVisible(), "cancelled: the ratings still wait for a version"
    with core.db.session() as session:  # the version that job would have left
        add_version(session, "My assistant", 3, utcnow())
    tab.nudge.refresh()
    assert not bar.isVisible(), "counting starts again from v3"
    _rate(core, 3, start=10)
    tab.nudge.refresh()
    assert bar.text.text() == "3 replies rated since My assistant v3 — train v4?"


def test_the_threshold_setting_moves_the_nudge_and_zero_turns_it_off(tab, core, qtbot):
    events = SettingsEvents(core.settings)
    events.setting_changed.connect(tab.nudge.on_setting_changed)
    _two_versions_and_ratings(core, 2)
    core.settings.set("train_nudge_after", 3)
    tab.nudge.refresh()
    assert not tab.nudge_bar.isVisible(), "2 of 3"
    with qtbot.waitSignal(tab.nudge.changed, timeout=5000):
        core.settings.set("train_nudge_after", 2)
    assert tab.nudge_bar.isVisible() and tab.nudge_bar.text.text().startswith("2 replies rated since")
    with qtbot.waitSignal(tab.nudge.changed, timeout=5000) as changed:
        core.settings.set("train_nudge_after", 0)
    assert changed.args == [None] and not tab.nudge_bar.isVisible()
    events.close()


def test_opted_in_the_idle_computer_trains_the_next_version_unasked(tab, core, qtbot):
    tab.nudge.clock = IdleClock(busy_percent=20, quiet_for_s=120)
    core.settings.set("train_nudge_after", 2)
    _two_versions_and_ratings(core, 2)
    tab.nudge.refresh()
    notes = []
    tab.note_posted.connect(notes.append)
    due = []
    tab.nudge.auto_train_due.connect(due.append)  # the tab starts the version on the same signal

    for cpu, at in ((5, 1000), (4, 1200)):
        tab.nudge.on_sample(_sample(cpu, at))
    assert due == [], "not opted in: never unasked"

    core.settings.set("train_when_idle", True)
    tab.nudge.clock.busy()
    tab.nudge.on_sample(_sample(5, 2000))
    tab.nudge.on_sample(_sample(60, 2060))  # someone works
    tab.nudge.on_sample(_sample(5, 2100))
    tab.nudge.on_sample(_sample(5, 2219))
    assert due == [], "quiet for 119 s only"
    tab.nudge.on_engine_state("generating")
    tab.nudge.on_sample(_sample(5, 2300))
    assert due == [], "the engine is writing a reply"
    tab.nudge.on_engine_state("idle")
    tab.nudge.on_sample(_sample(5, 2310))
    tab.nudge.on_sample(_sample(5, 2429))
    assert due == []

    with qtbot.waitSignal(tab.controller.job_started, timeout=60000) as started:
        tab.nudge.on_sample(_sample(5, 2430))
    assert due == ["My assistant"]
    assert any("idle" in note and "My assistant v3" in note for note in notes), notes
    with core.db.session() as session:
        job = session.get(TrainingJob, started.args[0])
        assert (job.assistant, job.name) == ("My assistant", "My assistant v3")
    tab.nudge.on_sample(_sample(5, 5000))
    assert due == ["My assistant"], "once: a job runs now"
    with core.db.session() as session:
        assert len(session.scalars(select(TrainingJob).where(TrainingJob.assistant == "My assistant")).all()) == 2


def test_a_reply_rated_in_chat_brings_the_nudge_to_the_status_bar_and_a_click_trains(qtbot, core, monkeypatch):
    from app.ui.app import build_window

    monkeypatch.setattr(runner, "worker_command",
                        lambda *_a, **_k: [sys.executable, "-c", "import time; time.sleep(120)"])
    core.settings.set("train_nudge_after", 3)
    _two_versions_and_ratings(core, 2)
    with core.db.session() as session:  # a reply not rated yet
        unrated = rate(session, rating=0, question="One more question?", reply=PERSONA).message_id
    win, engine = build_window(core)
    qtbot.addWidget(win)
    try:
        win.show()
        link = win.training_nudge
        qtbot.waitUntil(lambda: win.training_tab.nudge.soon.isActive() is False)
        assert not link.isVisible(), "2 of 3"
        win.chat.view.rating_changed.emit(unrated, 1)  # thumbs up, as the reply's button sends it
        qtbot.waitUntil(link.isVisible, timeout=5000)
        assert link.text() == "3 replies rated since My assistant v2 — train v3?"
        with qtbot.waitSignal(win.training_tab.controller.job_started, timeout=60000) as started:
            link.click()
        assert win.tabs.currentWidget() is win.training_tab and not link.isVisible()
        with core.db.session() as session:
            assert session.get(TrainingJob, started.args[0]).name == "My assistant v3"
    finally:
        for job_id in list(win.training_tab.controller.followers):
            win.training_tab.controller.cancel(job_id)
        engine.shutdown()
        win.close()


def test_unasked_a_version_that_cannot_start_says_why_in_the_status_bar_not_a_dialog(tab, core, monkeypatch):
    from app.ui.training import training_tab as training_tab_module

    dialogs = []
    monkeypatch.setattr(training_tab_module, "warn", lambda *args: dialogs.append(args))
    with core.db.session() as session:
        add_version(session, "Orphan", 1, utcnow())  # no job to repeat
    notes = []
    tab.note_posted.connect(notes.append)
    assert not tab.train_next_version("Orphan", automatic=True)
    assert dialogs == [] and len(notes) == 1 and "no training job to repeat" in notes[0]
    assert not tab.train_next_version("Orphan")  # asked: a dialog says it
    assert len(dialogs) == 1 and "New job page" in dialogs[0][2]
