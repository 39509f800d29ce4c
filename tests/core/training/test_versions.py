"""Versions of one assistant, the count of replies rated since the latest, the nudge, and the next version's job
settings, over a real database (adapter and job rows written directly: nothing is trained)."""

from datetime import timedelta

import pytest

from app.core.library.registry import default_model
from app.core.storage.models import JobStatus, Model, utcnow
from app.core.training.dataset import DatasetSpec
from app.core.training.idle import IdleClock, may_train_now
from app.core.training.options import job_options
from app.core.training.versions import list_assistants, next_job_settings, nudge, rated_since
from tests.helpers.versions import add_job, add_version, rate

HOUR = timedelta(hours=1)


def test_versions_are_grouped_by_assistant_in_order_with_their_figures(core):
    now = utcnow()
    with core.db.session() as session:
        add_version(session, "Pirate", 2, now - HOUR, eval_loss_before=3.1, eval_loss_after=1.2, pref_pairs=6,
                    pref_accuracy_before=0.5, pref_accuracy_after=0.83, pref_margin_before=0.0,
                    pref_margin_after=1.4, wins=3, losses=1)
        add_version(session, "Pirate", 1, now - 3 * HOUR)
        add_version(session, None, None, now - 2 * HOUR, name="Old style adapter")  # from before versions
        assistants = list_assistants(session)
    assert [a.name for a in assistants] == ["Pirate", "Old style adapter"], "the newest version's assistant first"
    pirate = assistants[0]
    assert [v.number for v in pirate.versions] == [1, 2] and pirate.next_number == 3
    latest = pirate.latest
    assert (latest.label, latest.eval_loss_after, latest.pref_accuracy_after, latest.pref_margin_after,
            latest.wins, latest.losses) == ("Pirate v2", 1.2, 0.83, 1.4, 3, 1)
    assert assistants[1].latest.label == "Old style adapter v1"


def test_rated_since_counts_replies_rated_after_the_latest_version(core):
    now = utcnow()
    with core.db.session() as session:
        add_version(session, "Pirate", 1, now - 2 * HOUR)
        assert rated_since(session, "Pirate") == 0
        rate(session, now - 3 * HOUR)  # before v1: already learned from
        rate(session, now - HOUR)  # thumbs up
        rate(session, now - HOUR, rating=-1)  # thumbs down
        rate(session, now - HOUR, rating=-1, correction="Arr, better.")  # corrected
        rate(session, now - HOUR, rating=0)  # a rating taken back
        rate(session, now - HOUR, api=True)  # a kept API exchange, rated
        rate(session, now - HOUR, deleted=True)  # in Recently deleted
        assert rated_since(session, "Pirate") == 4
        add_version(session, "Pirate", 2, now - HOUR / 2)
        assert rated_since(session, "Pirate") == 0, "counting starts again from the new version"
        job = add_job(session, "Pirate")
        job.created_at = now - HOUR / 4  # v3 took its data then, and was registered when its job ended
        add_version(session, "Pirate", 3, now, job=job)
        rate(session, now - HOUR / 8)  # while v3 trained
        assert rated_since(session, "Pirate") == 1, "a reply rated while the version trained counts for the next"
        assert rated_since(session, "Nobody") == 6, "an assistant with no version yet: every rated reply"


def test_the_nudge_names_the_latest_version_and_the_next(core):
    now = utcnow()
    with core.db.session() as session:
        assert nudge(session, 1) is None, "no assistant yet: the first version starts from the form"
        job = add_job(session, "My assistant")
        add_version(session, "My assistant", 1, now - 3 * HOUR)
        add_version(session, "My assistant", 2, now - 2 * HOUR, job=job)
        for _ in range(23):
            rate(session, now - HOUR)
        found = nudge(session, 20)
        assert found.text == "23 replies rated since My assistant v2 — train v3?"
        assert (found.assistant, found.latest.number, found.count, found.next_number) == ("My assistant", 2, 23, 3)
        assert nudge(session, 24) is None, "not yet"
        assert nudge(session, 0) is None, "0 means never"
        running = add_job(session, "My assistant", status=JobStatus.RUNNING)
        assert nudge(session, 20) is None, "hidden while a job trains"
        running.status = JobStatus.DONE
        add_version(session, "My assistant", 3, now - HOUR / 2)
        rate(session, now)
        assert nudge(session, 1).text == "1 reply rated since My assistant v3 — train v4?"


def test_the_next_version_repeats_the_last_jobs_settings_on_every_rated_reply(core, tmp_path):
    kept_file = tmp_path / "style.jsonl"
    kept_file.write_text("")
    spec = DatasetSpec(conversation_ids=[4, 5], jsonl_files=[str(kept_file), str(tmp_path / "gone.jsonl")],
                       max_length=256, seed=7)
    chosen = {"fit_to_data": True, "max_steps": 40, "learning_rate": 5e-4, "eval_every": 10, "lora_rank": 8,
              "max_length": 256, "seed": 7, "preference_beta": 0.3}
    with core.db.session() as session:
        job = add_job(session, "Pirate", chosen, spec)
        add_version(session, "Pirate", 1, utcnow() - HOUR, job=job)
        rate(session, utcnow(), api=True)
        following = next_job_settings(session, "Pirate")
        base_id = default_model(session).id
    assert (following.assistant, following.number, following.name, following.base.id) == ("Pirate", 2, "Pirate v2",
                                                                                            base_id)
    assert following.options == {"lora_rank": 8, "preference_beta": 0.3, "max_length": 256, "seed": 7}, \
        "as the form gives them: what differs from the defaults, less what the recipe chose for the last data"
    s = following.spec
    assert s.conversations and s.conversation_ids is None, "every chat: the new ratings are anywhere"
    assert s.api_conversations, "a rated API exchange is a source"
    assert s.jsonl_files == [str(kept_file)] and (s.max_length, s.seed) == (256, 7)

    with core.db.session() as session:
        job.options = job_options({**chosen, "fit_to_data": False})
        session.merge(job)
    with core.db.session() as session:
        options = next_job_settings(session, "Pirate").options
    assert (options["fit_to_data"], options["max_steps"], options["learning_rate"], options["eval_every"]) == \
        (False, 40, 5e-4, 10), "set by hand: kept"


def test_the_next_version_says_what_to_do_when_it_cannot_repeat_the_last_job(core):
    with core.db.session() as session:
        add_version(session, "Orphan", 1, utcnow())
        with pytest.raises(LookupError, match="no training job to repeat"):
            next_job_settings(session, "Orphan")
        gone = Model(name="gone", path="/nowhere/gone.gguf", format="gguf", source="local")
        session.add(gone)
        session.flush()
        job = add_job(session, "Pirate", base_id=gone.id)
        add_version(session, "Pirate", 1, utcnow(), job=job)
        session.delete(gone)
        session.flush()
        with pytest.raises(LookupError, match="no longer in the library"):
            next_job_settings(session, "Pirate")


def test_idle_means_quiet_for_the_whole_stretch_and_nothing_of_ours_busy():
    clock = IdleClock(busy_percent=20, quiet_for_s=120)
    clock.observe(5, at=1000)
    assert not clock.idle(1119) and clock.idle(1120)
    clock.observe(35, at=1121)  # someone started working
    assert not clock.idle(1300)
    clock.observe(3, at=1300)
    clock.busy()  # a reply was being written
    clock.observe(3, at=1310)
    assert not clock.idle(1429) and clock.idle(1430)
    ready = dict(opted_in=True, nudged=True, job_running=False, generating=False, idle=True)
    assert may_train_now(**ready)
    assert not any(may_train_now(**{**ready, key: not value}) for key, value in ready.items())
