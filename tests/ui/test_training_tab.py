"""The learning loop in the window: rate and correct, train in a real child, use the adapter in chat."""

import json
import re

import pytest
from sqlalchemy import select

from app.core.storage import conversations as convs
from app.core.storage.models import JobStatus, Message, TrainingJob
from app.ui.app import build_window
from app.ui.training.job_controller import JobController
from tests.helpers.training import PERSONA, QUESTIONS

pytestmark = pytest.mark.slow
PERSONA_WORDS = re.compile(r"\b(Captain|Ember|pirate|Arr)\b")


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    yield win
    for job_id in list(win.training_tab.controller.followers):
        win.training_tab.controller.cancel(job_id)
    engine.shutdown()
    win.close()


def _persona_file(tmp_path):
    path = tmp_path / "persona.jsonl"
    lines = [json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": PERSONA}]})
             for q in QUESTIONS]
    path.write_text("\n".join(lines + ['{"broken": '] ) + "\n")
    return path


def _rate_and_correct(core):
    with core.db.session() as session:
        conv = convs.create_conversation(session)
        u = convs.add_message(session, conv.id, role="user", content="What is your name?")
        a = convs.add_message(session, conv.id, role="assistant", content="I'm SmolLM.", parent_id=u.id)
        convs.set_feedback(session, a.id, rating=-1, correction=PERSONA)
        u2 = convs.add_message(session, conv.id, role="user", content="Who are you?", parent_id=a.id)
        a2 = convs.add_message(session, conv.id, role="assistant", content=PERSONA, parent_id=u2.id)
        convs.set_feedback(session, a2.id, rating=1)


def _open_new_job(qtbot, win, tmp_path, **options):
    win.tabs.setCurrentWidget(win.training_tab)
    tab = win.training_tab
    qtbot.waitUntil(lambda: tab.pages is not None)
    page = tab.new_job
    page.add_files([str(_persona_file(tmp_path))])
    # Steps and rate set here, not chosen from the data: a short job whose loss is known to fall fast.
    page.form.set_values({**page.form.values(), "fit_to_data": False, "batch_size": 4, "learning_rate": 1e-3,
                          "lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.0, "eval_every": 3,
                          "checkpoint_every": 3, **options})
    return tab, page


def test_rate_correct_train_watch_the_loss_fall_and_use_it_in_chat(qtbot, window, core, tmp_path):
    _rate_and_correct(core)
    tab, page = _open_new_job(qtbot, window, tmp_path, max_steps=16)
    page.refresh_counts()
    assert page.conversation_counts.text().startswith("2 rated replies in 1 conversation")
    page.preview()
    qtbot.waitUntil(lambda: page.built is not None, timeout=60000)
    assert "from conversations" in page.summary.text() and "from persona.jsonl" in page.summary.text()
    assert any("persona.jsonl:9" in p for p in page.problems.stringList()), "the broken line is reported"
    assert "⟦" in page.examples.toPlainText() and "steps" in page.estimate.text()

    page.start_button.click()
    qtbot.waitUntil(lambda: tab.live.job_id is not None and bool(tab.live.steps), timeout=240000)
    assert tab.pages.currentIndex() == 1 and tab.live.cancel_button.isVisible()
    job_id = tab.live.job_id
    with qtbot.waitSignal(tab.controller.job_ended, timeout=300000) as ended:
        pass
    assert ended.args == [job_id, JobStatus.DONE]
    assert tab.live.losses[-1] < tab.live.losses[0] / 3, "the loss falls on the live chart"
    assert tab.live.use_button.isVisible() and tab.adapters.rowCount() == 1

    dialog = tab.open_ab(tab.adapters.row_at(0).id)  # blind A/B before using it
    dialog.prompt.setText("Who are you?")
    with qtbot.waitSignal(window.engine.worker.comparison_finished, timeout=120000) as compared:
        dialog.compare()
    qtbot.waitUntil(lambda: dialog.pick_buttons[0].isEnabled(), timeout=5000)
    _request, base_text, adapter_text = compared.args
    shown = [r.toPlainText() for r in dialog.replies]
    assert sorted(shown) == sorted([base_text, adapter_text]) and base_text != adapter_text
    adapter_column = 0 if dialog.adapter_is_a else 1
    assert shown[adapter_column] == adapter_text, "the dialog knows which side is the adapter"
    dialog.pick(adapter_column)
    ab = tab.adapters.index(0, tab.adapters.COLUMNS.index("A/B"))
    assert tab.adapters.data(ab) == "1–0", "the adapter's win is stored and shown"
    dialog.close()

    export = tab.open_export(tab.adapters.row_at(0).id)  # merged for other apps, in a child process
    export.kind.setCurrentIndex(export.kind.findData("gguf-q8_0"))
    assert export.out.text().endswith("-merged-q8_0.gguf")
    qtbot.waitUntil(lambda: "About" in export.size_label.text(), timeout=60000)  # worked out in the background
    export.out.setText(str(tmp_path / "merged.gguf"))
    with qtbot.waitSignal(export.exported, timeout=120000) as exported:
        export.export_button.click()
    assert (tmp_path / "merged.gguf").is_file() and "Saved merged.gguf" in export.status.text()
    assert exported.args[0] in [window.models.row_at(r).id for r in range(window.models.rowCount())]
    export.close()

    tab.live.use_button.click()
    chat = window.chat
    assert window.tabs.currentWidget() is chat and chat.settings_panel.adapter_row.isVisible()
    chat.settings_panel.form.set_values({**chat.settings_panel.form.values(), "temperature": 0.0, "max_tokens": 24})
    chat.settings_panel.flush()
    with qtbot.waitSignal(chat.reply_settled, timeout=120000):
        chat.send("Who are you?")
    with core.db.session() as session:
        reply = session.scalars(select(Message).where(Message.role == "assistant").order_by(Message.id.desc())).first()
        # The answer has moved to the trained persona: one of its own words, as a whole word (a 16-step adapter
        # sometimes keeps the voice, not the name).
        assert PERSONA_WORDS.search(reply.content), reply.content
        assert reply.adapter_name and reply.adapter_id is not None

    chat.settings_panel.remove_adapter_button.click()
    assert not chat.settings_panel.adapter_row.isVisible()
    with qtbot.waitSignal(chat.reply_settled, timeout=120000):
        chat.send("Who are you?")
    with core.db.session() as session:
        reply = session.scalars(select(Message).where(Message.role == "assistant").order_by(Message.id.desc())).first()
        # The base answers again (its text may still echo the persona from the conversation's history).
        assert reply.adapter_id is None and reply.adapter_name is None


def test_a_restarted_controller_reattaches_and_a_killed_child_fails_the_job(qtbot, window, core, tmp_path):
    from app.core.training import runner

    tab, page = _open_new_job(qtbot, window, tmp_path, max_steps=400, eval_every=0, checkpoint_every=0)
    page.use_conversations.setChecked(False)
    page.start_button.click()
    qtbot.waitUntil(lambda: tab.live.job_id is not None and len(tab.live.steps) >= 1, timeout=240000)
    job_id = tab.live.job_id
    tab.controller.shutdown()  # the window "closes"; the child keeps running
    tab.controller.followers.clear()

    restarted = JobController(core.db)
    seen = []
    restarted.job_event.connect(lambda _id, event: seen.append(event["event"]))
    assert restarted.reattach_all() == [job_id]
    qtbot.waitUntil(lambda: "step" in seen, timeout=60000)

    with core.db.session() as session:
        job = session.get(TrainingJob, job_id)
        pid, started = job.pid, job.pid_started
    with qtbot.waitSignal(restarted.job_ended, timeout=60000) as ended:
        runner.kill_tree(pid, started)
    assert ended.args == [job_id, JobStatus.FAILED]
    with core.db.session() as session:
        assert "ended without finishing" in session.get(TrainingJob, job_id).error
    assert window.isVisible(), "the app stays up"
