"""The New job form's defaults: steps, learning rate and evaluation cadence follow the previewed data (and are left
to the recipe when the job starts), the advanced options wait behind a button, and the assistant whose next version
the job trains is named for the person."""

import json

import pytest

from app.core.library.registry import default_model
from app.core.storage.models import Adapter
from app.core.training import recipe
from app.core.training.jobs import create_job, data_shape
from app.ui.models_list import ModelListModel
from app.ui.training.new_job_page import NewJobPage, step_rows
from app.ui.training.options_panel import FITTED, UNPREVIEWED
from tests.helpers.training import PERSONA, QUESTIONS


@pytest.fixture
def page(qtbot, core, tmp_path):
    widget = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(widget)
    widget.resize(1024, 560)
    widget.show()
    persona = tmp_path / "persona.jsonl"
    persona.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                        {"role": "assistant", "content": PERSONA}]}) + "\n"
                               for q in QUESTIONS))
    widget.add_files([str(persona)])
    return widget


def _previewed(qtbot, page):
    page.preview()
    qtbot.waitUntil(lambda: page.built is not None and not page.building, timeout=60000)
    return page


def _base(page):
    return page.base_model()


def test_steps_and_learning_rate_follow_the_previewed_data(qtbot, page):
    editors, note = page.form.editors, page.options.recipe_note
    assert page.form.values()["fit_to_data"] is True, "on by default"
    assert note.text() == UNPREVIEWED and not any(editors[k].isEnabled() for k in FITTED)
    _previewed(qtbot, page)
    params = _base(page).info.get("parameters")
    chosen, expected_note = recipe.apply(page.options.given(), data_shape(page.built), params)
    shown = page.form.values()
    assert {k: shown[k] for k in FITTED} == {k: chosen[k] for k in FITTED}
    assert not any(editors[k].isEnabled() for k in FITTED), "chosen from the data: not editable"
    assert note.isVisibleTo(page) and note.text() and (note.text() == expected_note or not expected_note)
    assert f"{chosen['max_steps']} steps" in page.estimate.text(), "the estimate is of the chosen steps"


def test_turned_off_the_fields_are_set_by_hand(qtbot, page):
    _previewed(qtbot, page)
    page.options.fit_to_data.click()
    editors = page.form.editors
    assert all(editors[k].isEnabled() for k in FITTED) and not page.options.recipe_note.isVisibleTo(page)
    editors["max_steps"].setValue(7)
    editors["learning_rate"].setValue(0.0003)
    given = page.options.given()
    assert given["fit_to_data"] is False and given["max_steps"] == 7 and given["learning_rate"] == pytest.approx(3e-4)
    assert "7 steps" in page.estimate.text()


def test_starting_with_fit_to_data_leaves_the_choice_to_the_recipe(qtbot, page, core):
    _previewed(qtbot, page)
    shown = {k: page.form.values()[k] for k in FITTED}
    with qtbot.waitSignal(page.start_requested, timeout=5000) as started:
        page._start()
    base, options, spec, name, assistant = started.args
    assert not set(FITTED) & set(options), "explicit keys would win over the recipe in create_job"
    with core.db.session() as session:
        job = create_job(session, base, options, spec, page.built, name=name, assistant=assistant)
        stored = json.loads((job.run_dir / "job.json").read_text())["options"]
    assert {k: stored[k] for k in FITTED} == shown, "the job runs with what the form showed"


def test_advanced_options_wait_behind_a_button_and_beta_follows_the_objective(page):
    editors, button = page.form.editors, page.options.advanced_button
    basic = ("objective", "fit_to_data", "max_steps", "learning_rate", "eval_every")
    assert all(editors[k].isVisible() for k in basic)
    assert not editors["preference_beta"].isVisible() and not editors["lora_rank"].isVisible()
    assert not editors["method"].isVisible() and not page.method_note.isVisible()
    button.click()
    assert editors["preference_beta"].isVisible() and editors["method"].isVisible() and page.method_note.isVisible()
    assert editors["preference_beta"].isEnabled()
    objective = editors["objective"]
    objective.setCurrentIndex(objective.findData("sft"))
    assert not editors["preference_beta"].isEnabled(), "no preferences learned: their strength does not apply"
    button.click()
    assert not editors["lora_rank"].isVisible()


def _adapter(session, base, name, assistant, version):
    session.add(Adapter(name=name, base_model_id=base.id, base_name=base.name, peft_dir="/nowhere",
                        assistant=assistant, version=version, wins=0, losses=0, notes=""))
    session.flush()


def test_the_assistant_is_the_last_one_trained_on_this_base(qtbot, page, core):
    assert page.assistant.text() == "My assistant"
    assert page.version_note.text() == "This job trains My assistant v1."
    with core.db.session() as session:
        base = default_model(session)
        _adapter(session, base, "Pirate v1", "Pirate", 1)
        _adapter(session, base, "Pirate v2", "Pirate", 2)
    page.refresh_counts()
    assert page.assistant.text() == "Pirate" and page.version_note.text() == "This job trains Pirate v3."

    page.assistant.setText("Poet")
    page.assistant.setModified(True)  # typed by a person: kept when the counts are refreshed
    page.refresh_counts()
    assert page.version_note.text() == "This job trains Poet v1."
    _previewed(qtbot, page)
    with qtbot.waitSignal(page.start_requested, timeout=5000) as started:
        page._start()
    *_, name, assistant = started.args
    assert (name, assistant) == ("Poet v1", "Poet")


def test_the_estimate_counts_the_preference_pairs_each_step_also_takes(qtbot, core):
    from tests.helpers.feedback import rate_and_regenerate

    rate_and_regenerate(core)
    page = NewJobPage(core, ModelListModel(core.db))
    qtbot.addWidget(page)
    _previewed(qtbot, page)
    built = page.built
    rows_sft, tokens_sft = step_rows(built, uses_preferences=False)
    rows_all, tokens_all = step_rows(built, uses_preferences=True)
    assert rows_sft == len(built.train) and rows_all == max(len(built.train), len(built.train_pref_items))
    costs = [len(p.encoded.chosen.input_ids) + len(p.encoded.rejected.input_ids) if p.record.kind == "pair"
             else len(p.encoded.encoded.input_ids) for p in built.train_pref_items]
    assert any(p.record.kind == "pair" for p in built.train_pref_items)
    assert tokens_all - tokens_sft == pytest.approx(sum(costs) / len(costs)), "a pair costs both its replies"


def test_only_what_a_person_changed_is_given(qtbot, page):
    """The recipe tells given options from chosen ones: untouched fields are not given, so Start with the defaults
    hands create_job nothing at all (a changed number of epochs, for one, would keep the steps to the epochs)."""
    _previewed(qtbot, page)
    assert page.options.given() == {}
    page.form.editors["lora_rank"].setValue(8)
    assert page.options.given() == {"lora_rank": 8}
    page.form.editors["epochs"].setValue(5)
    assert page.form.values()["max_steps"] == 0, "the epochs decide the steps"
