"""Preference training in a real child process on the starter model (CPU): DPO on pairs beside the SFT examples,
and KTO on lone thumbs-down replies."""

import math

import pytest

from app.core.training.examples import Turn
from app.core.training.preferences import Unpaired
from tests.helpers.preference_jobs import ANSWER, QUESTIONS, marker_pair, with_preferences
from tests.helpers.training import Child, make_job

pytestmark = pytest.mark.slow


def run(job) -> list[dict]:
    child = Child(job.run_dir)
    code = child.finish()
    assert code == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
    return [e for _, e in child.events]


def test_pairs_beside_sft_examples_learn_the_preference(core, shared_training_cache):
    job = make_job(core, shared_training_cache, max_steps=4, eval_every=2, checkpoint_every=0,
                   learning_rate=2e-3, lr_schedule="constant")
    with_preferences(job, [marker_pair(q) for q in QUESTIONS[:8]], [marker_pair(q) for q in QUESTIONS[8:]])
    events = run(job)

    started = next(e for e in events if e["event"] == "started")
    assert (started["pairs"], started["unpaired_down"], started["eval_pairs"]) == (8, 0, 4)
    steps = [e for e in events if e["event"] == "step"]
    assert abs(steps[0]["pref_loss"] - math.log(2)) < 1e-3, "the adapter starts equal to the reference: ln 2"
    assert steps[0]["loss"] == pytest.approx(steps[0]["sft_loss"] + steps[0]["pref_loss"], abs=2e-5)
    assert steps[-1]["pref_loss"] < 0.5 * math.log(2), "the preference loss falls"
    assert steps[-1]["sft_loss"] < steps[0]["sft_loss"], "the SFT examples are still learned beside it"
    evals = [e for e in events if e["event"] == "eval"]
    assert all("pref_accuracy" in e for e in evals) and [e["step"] for e in evals] == [0, 2, 4]

    done = events[-1]
    assert done["event"] == "done" and done["pref_pairs"] == 4
    assert done["pref_accuracy_before"] == 0.0, "the base never starts a reply with the marker"
    assert done["pref_accuracy_after"] > done["pref_accuracy_before"]
    assert done["pref_margin_after"] > done["pref_margin_before"]


def test_lone_thumbs_down_make_their_replies_less_likely(core, shared_training_cache):
    """Without examples to imitate or pairs, the held-out loss is measured on the thumbs-down replies themselves:
    it rises exactly when their log-probability falls."""
    job = make_job(core, shared_training_cache, max_steps=4, eval_every=0, checkpoint_every=0,
                   learning_rate=2e-3, lr_schedule="constant")
    downs = [Unpaired((Turn("user", q),), ANSWER, False, "test", q, q) for q in QUESTIONS[:8]]
    with_preferences(job, downs, [], sft=False)
    events = run(job)

    started = next(e for e in events if e["event"] == "started")
    assert (started["examples"], started["pairs"], started["unpaired_down"]) == (0, 0, 8)
    steps = [e for e in events if e["event"] == "step"]
    assert abs(steps[0]["pref_loss"] - 0.5) < 1e-3 and steps[0]["sft_loss"] is None
    assert steps[-1]["pref_loss"] < steps[0]["pref_loss"]
    done = events[-1]
    assert done["eval_loss_after"] > done["eval_loss_before"] + 0.1
    assert done["pref_pairs"] == 0 and done["pref_accuracy_after"] is None


def test_objective_sft_leaves_the_preferences_out(core, shared_training_cache):
    job = make_job(core, shared_training_cache, max_steps=1, eval_every=0, checkpoint_every=0, objective="sft")
    with_preferences(job, [marker_pair(q) for q in QUESTIONS[:4]], [marker_pair(q) for q in QUESTIONS[4:6]])
    events = run(job)
    started = next(e for e in events if e["event"] == "started")
    assert (started["pairs"], started["eval_pairs"]) == (0, 0)
    assert "pref_loss" not in next(e for e in events if e["event"] == "step")
    assert events[-1]["pref_pairs"] == 0 and events[-1]["pref_accuracy_before"] is None
