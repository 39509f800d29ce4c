"""The estimate counts the worker's start-up and learns from this model's finished jobs (fed from a recorded run)."""

import time

import pytest

from app import paths
from app.core.library.registry import default_model
from app.core.storage.models import JobStatus, TrainingJob
from app.core.training import estimate, pace
from app.core.training.recorded_job import Recording, write_job
from app.core.training.options import job_options


@pytest.fixture
def recording() -> Recording:
    return Recording.load(paths.resources_dir() / "training-sample.json")


def _stretched(recording: Recording, startup: float, speed: float) -> Recording:
    """The recorded run as a slower or faster machine would have written it: `startup` more seconds before the
    first step, and its steps `speed` times as fast."""
    first = recording.time_of_step(1)
    events = [{**e, "t": e["t"] + startup if e["t"] < first else first + startup + (e["t"] - first) / speed}
              for e in recording.events]
    return Recording(recording.name, recording.options, events, recording.dataset, recording.notes)


def _estimate(core, recording: Recording):
    with core.db.session() as session:
        base = default_model(session)
        learned = pace.pace_for(session, base.id, "lora")
    options = job_options(recording.options)
    steps = [e for e in recording.events if e["event"] == "step"]
    mean_tokens = sum(e["tokens"] for e in steps) / len(steps) / options["batch_size"]  # as the recorded job had
    # The recorded run was its model's first job, so it made the GGUF's training copy: so does the one estimated.
    return estimate.estimate_job(base.info, options, 8, mean_tokens, pace=learned, converts=True)


def _record(core, recording: Recording, ago: float = 3600):
    with core.db.session() as session:
        return write_job(session, default_model(session), recording, started=time.time() - ago - recording.duration())


def test_a_run_is_measured_from_its_events(recording):
    events = [{"event": "log", "t": 1.0}, {"event": "started", "t": 20.0, "total_steps": 3},
              {"event": "eval", "step": 0, "t": 22.0}, {"event": "step", "step": 1, "tokens": 100, "t": 25.0},
              {"event": "step", "step": 2, "tokens": 100, "t": 26.0}, {"event": "step", "step": 3, "tokens": 100,
                                                                      "t": 27.0},
              {"event": "eval", "step": 3, "t": 28.0}, {"event": "done", "t": 30.0}]
    run = pace.measure_run(0.0, events)
    assert (run.to_started_s, run.to_first_step_s, run.finish_s, run.tokens_per_s, run.steps) == (20, 25, 3, 100, 3)
    assert pace.measure_run(0.0, events[:-1]) is None, "a run that did not finish says nothing"
    resumed = [{**e, "resumed_from": 2} if e["event"] == "started" else e for e in events]
    assert pace.measure_run(0.0, resumed) is None, "a resumed run's start-up is not its job's start-up"
    real = pace.measure_run(0.0, recording.events)
    assert real.to_started_s > 1 and real.to_first_step_s > real.to_started_s and real.tokens_per_s > 0


def test_before_any_job_the_estimate_counts_a_default_start_up(core, recording):
    first = _estimate(core, recording)
    assert not first.measured and first.startup_s >= estimate.DEFAULT_STARTUP_S + estimate.DEFAULT_CONVERSION_S
    assert first.seconds > first.startup_s + first.steps * first.seconds_per_step * 0.99
    assert "to start" in first.explain() and "rough guess" in first.explain()


def test_the_estimate_moves_to_the_finished_jobs_on_this_model(core, recording):
    before = _estimate(core, recording)
    slow = _stretched(recording, startup=60.0, speed=0.5)  # a minute more to start, steps at half speed
    _record(core, slow)
    learned = _estimate(core, slow)
    assert learned.measured and "from your earlier jobs" in learned.explain()
    took = slow.duration()
    assert abs(learned.seconds - took) < 0.15 * took, (learned.seconds, took)
    assert abs(learned.seconds - took) < abs(before.seconds - took)
    assert learned.startup_s == pytest.approx(pace.measure_run(0.0, slow.events).to_first_step_s, abs=0.01)

    fast = _stretched(recording, startup=0.0, speed=2.0)
    for _ in range(2):  # most recent jobs are now the fast ones: the median follows them
        _record(core, fast, ago=60)
    again = _estimate(core, fast)
    assert abs(again.seconds - fast.duration()) < 0.15 * fast.duration()
    assert again.seconds < learned.seconds


def test_only_this_models_finished_jobs_count(core, recording):
    with core.db.session() as session:
        job = write_job(session, default_model(session), recording, started=time.time() - 100, until_step=3)
        assert session.get(TrainingJob, job.id).status == JobStatus.RUNNING
        base_id = default_model(session).id
        assert pace.past_runs(session, base_id, "lora") == []
        assert pace.past_runs(session, base_id, "qlora") == []
    _record(core, recording)
    with core.db.session() as session:
        assert len(pace.past_runs(session, base_id, "lora")) == 1
        assert pace.past_runs(session, base_id + 1000, "lora") == []


def test_the_one_off_conversion_of_a_gguf_is_counted_once(core, recording):
    run = pace.measure_run(0.0, recording.events)  # the recorded run was its model's first job
    assert run.conversion_s > 1 and run.startup_s == pytest.approx(run.to_first_step_s - run.conversion_s)
    _record(core, recording)
    with core.db.session() as session:
        base = default_model(session)
        learned = pace.pace_for(session, base.id, "lora")
    options = job_options(recording.options)
    again = estimate.estimate_job(base.info, options, 8, 60.0, pace=learned)
    first = estimate.estimate_job(base.info, options, 8, 60.0, pace=learned, converts=True)
    assert again.startup_s == pytest.approx(run.startup_s, abs=0.01) and not again.converts
    assert first.startup_s == pytest.approx(run.to_first_step_s, abs=0.01) and "training copy" in first.explain()
