"""The Training tab around its jobs: what does not apply yet is off and says why, a starting job says it is
starting, a missing [train] extra is named with its install command, and the preview prints no traceback."""

import json
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, qInstallMessageHandler

from app import paths
from app.core.library.registry import default_model
from app.core.training import availability, runner
from app.core.training.events import EVENTS_FILE
from app.core.training.jobs import EVAL_PREFS_FILE, JOB_FILE, PREFS_FILE
from app.core.training.preferences import read_preferences
from app.core.training.recorded_job import Recording, write_job
from app.ui.models_list import ModelListModel
from app.ui.training.live_view import NO_JOB_HINT, STARTING
from app.ui.training.options_panel import FITTED
from app.ui.training.training_tab import TrainingTab
from tests.helpers.training import PERSONA, QUESTIONS, make_job
from tests.helpers.feedback import rate_and_regenerate

JOBS, ADAPTERS = 1, 2


@pytest.fixture
def recording() -> Recording:
    return Recording.load(paths.resources_dir() / "training-sample.json")


def _open_tab(qtbot, core) -> TrainingTab:
    widget = TrainingTab(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.resize(1280, 800)
    widget.show()
    qtbot.waitUntil(lambda: widget.pages is not None)
    return widget


def _close_tab(widget: TrainingTab) -> None:
    for job_id in list(widget.controller.followers):
        widget.controller.cancel(job_id)
    widget.shutdown()


@pytest.fixture
def tab(qtbot, core):
    widget = _open_tab(qtbot, core)
    yield widget
    _close_tab(widget)


def _persona_file(tmp_path):
    path = tmp_path / "persona.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                     {"role": "assistant", "content": PERSONA}]}) + "\n"
                            for q in QUESTIONS))
    return path


def test_with_no_job_or_adapter_nothing_looks_active(tab, core, recording):
    live = tab.live
    tab.pages.setCurrentIndex(JOBS)
    assert not any(w.isVisible() for w in (live.cancel_button, live.resume_button, live.use_button, live.progress))
    assert live.chart_pages.currentWidget() is live.chart_hint and live.chart_hint.isVisible()
    assert live.chart_hint.text() == NO_JOB_HINT and not live.plot.isVisible(), "no blank 0-1 plot"
    tab.pages.setCurrentIndex(ADAPTERS)
    assert not any(b.isEnabled() for b in tab.adapter_buttons)
    assert tab.adapters_hint.text().startswith("No adapters yet")

    with core.db.session() as session:  # a finished job, as the worker leaves it
        job = write_job(session, default_model(session), recording, started=time.time() - 600)
    tab.jobs.refresh()
    tab.adapters.refresh()
    assert not any(b.isEnabled() for b in tab.adapter_buttons), "an adapter, but none selected yet"
    assert tab.adapters_hint.text().startswith("Select an adapter")
    tab.adapters_view.selectRow(0)
    assert all(b.isEnabled() for b in tab.adapter_buttons)

    tab.pages.setCurrentIndex(JOBS)
    tab.select_job(job.id)
    assert live.chart_pages.currentWidget() is live.plot and len(live.steps) == recording.steps()
    assert live.use_button.isVisible() and not live.cancel_button.isVisible()
    assert live.facts["Step"].text() == f"{recording.steps()} / {recording.steps()}"


def test_a_starting_job_says_so_until_its_first_event(tab, core, qtbot, monkeypatch, tmp_path, recording):
    # The "worker" is a real child that only sleeps: the job's events are written here, as a worker writes them.
    monkeypatch.setattr(runner, "worker_command",
                        lambda *_a, **_k: [sys.executable, "-c", "import time; time.sleep(120)"])
    job = make_job(core, tmp_path)
    tab.controller.start(job.id)
    tab.jobs.refresh()
    tab.pages.setCurrentIndex(JOBS)
    tab.select_job(job.id)
    live = tab.live
    assert live.status.text() == STARTING and live.chart_hint.text() == STARTING
    assert live.progress.maximum() == 0 and live.facts["Step"].text() == "—", "a busy bar, not 0 / ?"
    assert live.cancel_button.isVisible() and not live.use_button.isVisible()

    first_step = recording.events_between(None, 1)
    with open(job.run_dir / EVENTS_FILE, "a", encoding="utf-8") as f:
        f.writelines(json.dumps({**e, "t": time.time()}) + "\n" for e in first_step)
    total = next(e["total_steps"] for e in first_step if e["event"] == "started")
    qtbot.waitUntil(lambda: live.facts["Step"].text() == f"1 / {total}", timeout=10000)
    assert live.status.text().startswith("Training…") and live.progress.maximum() == total
    assert live.chart_pages.currentWidget() is live.plot


def test_without_the_train_extra_start_is_off_and_the_page_says_what_to_run(tab, core, monkeypatch):
    page = tab.new_job
    assert page.start_button.isEnabled() and not page.setup_note.isVisible()
    monkeypatch.setattr(availability, "TRAINING_PACKAGES", ("torch", "hearth_missing_package"))
    tab.pages.setCurrentIndex(JOBS)
    tab.pages.setCurrentIndex(0)  # the page checks again whenever it is shown
    assert not page.start_button.isEnabled() and page.setup_note.isVisible()
    text = page.setup_note.text()
    assert "hearth_missing_package" in text and availability.install_command() in text and "\n" not in text
    page._start()  # even if reached another way, nothing starts
    assert tab.jobs.rowCount() == 0

    monkeypatch.setattr(availability, "TRAINING_PACKAGES", ("torch",))  # installed meanwhile
    page.recheck_button.click()
    assert page.start_button.isEnabled() and not page.setup_note.isVisible()


def test_preview_prints_no_traceback(tab, qtbot, capfd, monkeypatch, tmp_path):
    """Clicked like a person clicks it (clicked(bool) once reached the preview as an argument and crashed)."""
    problems = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: problems.append(exc))
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: problems.append(unraisable))
    qt_messages = []
    previous = qInstallMessageHandler(lambda _mode, _context, message: qt_messages.append(message))
    try:
        page = tab.new_job
        page.add_files([str(_persona_file(tmp_path))])
        qtbot.mouseClick(page.preview_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: page.built is not None and page.preview_button.isEnabled(), timeout=60000)
        assert "8 training examples" in page.summary.text() and "steps" in page.estimate.text()
    finally:
        qInstallMessageHandler(previous)
    err = capfd.readouterr().err
    assert problems == [] and "Traceback" not in err, err[-2000:]
    assert not [m for m in qt_messages if "Traceback" in m or "Error" in m], qt_messages


def test_rated_and_regenerated_replies_train_with_the_defaults_in_one_click(qtbot, core, monkeypatch):
    """The default path: a person rated and regenerated a few replies (one thumbs-down alone), opens New job, sees
    what they gave and the pairs, and presses Start without touching an option."""
    from app.core.storage.models import TrainingJob

    monkeypatch.setattr(runner, "worker_command",  # the job itself is another test's business
                        lambda *_a, **_k: [sys.executable, "-c", "import time; time.sleep(120)"])
    rate_and_regenerate(core)
    tab = _open_tab(qtbot, core)
    try:
        page = tab.new_job
        qtbot.waitUntil(lambda: page.built is not None, timeout=60000)  # previewed on opening
        assert [(r.source, r.pairs, r.lone_down) for r in page.preview_view.counts.rows] == [("Chats", 2, 1)]
        assert page.pair_view.isVisible() and len(page.pair_view.pairs) == 2
        shown = {k: page.form.values()[k] for k in FITTED}
        qtbot.mouseClick(page.start_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: tab.live.job_id is not None, timeout=10000)
        with core.db.session() as session:
            job = session.get(TrainingJob, tab.live.job_id)
            name, assistant, options, dataset, run_dir = (job.name, job.assistant, job.options, job.dataset,
                                                           Path(job.run_dir))
        assert (name, assistant) == ("My assistant v1", "My assistant")
        assert {k: options[k] for k in FITTED} == shown and options["fit_to_data"] is True
        assert dataset["pairs"] == 2 and dataset["unpaired_down"] == 1
        prefs = read_preferences(run_dir / PREFS_FILE) + read_preferences(run_dir / EVAL_PREFS_FILE)
        assert sorted(p.kind for p in prefs) == ["pair", "pair", "unpaired"]
        assert json.loads((run_dir / JOB_FILE).read_text())["prefs_file"] == PREFS_FILE
    finally:
        _close_tab(tab)
