"""The Training tab's screenshots, drawn from a recorded job instead of a training run (a real one takes minutes on
a small machine, and the picture would show whatever that run happened to do).

`app/resources/training-sample.json` holds a real run of the starter model on a small persona set: its events with
their times and the replies a blind A/B test got from the base model and from the adapter. Each picture writes that
run into the throw-away home as the worker would have left it (a run folder with `events.jsonl`, the job row, its
metrics and its adapter) and lets the real widgets show it. The running job is fed its recorded events through the
same signal the job controller emits, so the live view is the real one; no process is started, so none is watched
and none is marked failed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from app import paths
from app.core.training.recorded_job import Recording, append_events, start_job, write_job

SAMPLE = "training-sample.json"
TABS = ("training", "training-new", "training-finished", "training-ab", "training-export", "training-empty")
RUNNING_AT_STEP = 14  # the running job's picture: a third of the way, the loss already falling
JOBS_PAGE, ADAPTERS_PAGE = 1, 2


def sample() -> Recording:
    return Recording.load(paths.resources_dir() / SAMPLE)


def _base(window):
    from app.core.library.registry import default_model

    with window.core.db.session() as session:
        return default_model(session)


def _finished_job(window, recording: Recording):
    """The recorded job, finished an hour ago, with its adapter registered."""
    started = time.time() - 3600 - recording.duration()
    with window.core.db.session() as session:
        return write_job(session, _base(window), recording, started=started)


def _persona_file(home: str, recording: Recording) -> Path:
    """The dataset the recorded job learned from (and one broken line, which the preview reports)."""
    path = Path(home) / "persona.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for example in recording.notes["examples"]:
            f.write(json.dumps({"messages": example}) + "\n")
        f.write('{"messages": [{"role": "user", "content": "broken line"}\n')
    return path


def _preference_file(home: str, recording: Recording) -> Path:
    """One preference pair in TRL's form: the persona's answer preferred to what the base model really wrote to the
    same question (kept with the recording's blind A/B test)."""
    ab = recording.notes["ab"]
    persona = next(m["content"] for example in recording.notes["examples"] for m in example
                   if m["role"] == "assistant")
    path = Path(home) / "preferences.jsonl"
    path.write_text(json.dumps({"prompt": [{"role": "user", "content": ab["prompt"]}], "chosen": persona,
                                "rejected": ab["base"]}) + "\n", encoding="utf-8")
    return path


def _new_job(window, home: str, recording: Recording) -> None:
    """The New job page after a preview of the persona set, with the recorded job as this model's past job (so the
    estimate is learned from it)."""
    from app.ui.screenshot import _wait

    _finished_job(window, recording)
    page = window.training_tab.new_job
    page.add_files([str(_persona_file(home, recording)), str(_preference_file(home, recording))])
    page.form.set_values({**page.form.values(), **recording.options, "fit_to_data": True})  # the default path
    page.preview()
    _wait(lambda: page.built is not None, 60)
    page.assistant.setText("Captain Ember")


def _running_job(window, recording: Recording) -> None:
    """The recorded job at step RUNNING_AT_STEP, its events fed to the live view as they arrived."""
    tab = window.training_tab
    started = time.time() - recording.time_of_step(RUNNING_AT_STEP)
    with window.core.db.session() as session:
        job = start_job(session, _base(window), recording, started=started)
    tab.jobs.refresh()
    tab.pages.setCurrentIndex(JOBS_PAGE)
    tab.select_job(job.id)
    with window.core.db.session() as session:
        from app.core.storage.models import TrainingJob

        tab.live.show_job(session.get(TrainingJob, job.id), running=True)
    for event in recording.events_between(None, RUNNING_AT_STEP):
        with window.core.db.session() as session:
            (placed,) = append_events(session, job, [event], started)
        tab.controller.job_event.emit(job.id, placed)


def _finished(window, recording: Recording) -> None:
    tab = window.training_tab
    job = _finished_job(window, recording)
    tab.jobs.refresh()
    tab.adapters.refresh()
    tab.pages.setCurrentIndex(JOBS_PAGE)
    tab.select_job(job.id)


def _adapter_dialog(window, which: str, home: str, recording: Recording):
    """The adapters page with the A/B comparison's recorded answers in, or the export dialog after a q8_0 merge."""
    from app.ui.screenshot import _wait

    tab = window.training_tab
    _finished_job(window, recording)
    tab.adapters.refresh()
    tab.pages.setCurrentIndex(ADAPTERS_PAGE)
    tab.adapters_view.selectRow(0)
    adapter_id = tab.adapters.row_at(0).id
    if which == "training-ab":
        dialog = tab.open_ab(adapter_id)
        ab = recording.notes["ab"]
        dialog.prompt.setText(ab["prompt"])
        dialog._on_finished(dialog.request_id, ab["base"], ab["adapter"])
        return dialog
    dialog = tab.open_export(adapter_id)
    dialog.kind.setCurrentIndex(dialog.kind.findData("gguf-q8_0"))
    _wait(lambda: dialog.sizes is not None, 60)
    out = Path(dialog.out.text())
    dialog.add_to_library.setChecked(False)  # nothing is added to Models by a picture
    dialog.show_saved(out, dialog.sizes.get("gguf-q8_0") or 0, model_id=None)  # the size the merge writes
    dialog.out.setText(str(out).replace(home, "~/.local/share/Hearth"))
    dialog.out.setCursorPosition(0)
    return dialog


def show(window, tab: str, home: str):
    """Put the Training tab in the state `tab` names; returns the dialog to draw over the window, if any."""
    from app.ui.screenshot import _wait

    recording = sample()
    training = window.training_tab
    _wait(lambda: training.pages is not None, 10)  # built on first show
    dialog = None
    if tab == "training-new":
        _new_job(window, home, recording)
    elif tab == "training":
        _running_job(window, recording)
    elif tab == "training-finished":
        _finished(window, recording)
    elif tab in ("training-ab", "training-export"):
        dialog = _adapter_dialog(window, tab, home, recording)
    elif tab == "training-empty":
        training.pages.setCurrentIndex(JOBS_PAGE)
    _wait(lambda: False, 0.3)  # layouts and the chart settle
    return dialog
