"""The engine's side of giving way to training: its sign is up while the model owner works (a reply, an API
request), stays up across queued jobs, and comes down after a reply ends, fails or is stopped; a killed engine's
sign is ignored. The scheduler on its own, then a real `hearth serve` generating with the starter model."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from app.core.engine.generating_sign import GeneratingSign, engine_generating
from app.core.engine.host import ModelHost
from app.service.scheduler import Scheduler

from tests.helpers.openai_engine import STARTER, running_engine
from tests.helpers.waiting import wait_for

QUESTION = [{"role": "user", "content": "Name a colour."}]


class CountingSign(GeneratingSign):
    def __init__(self, folder):
        super().__init__(folder)
        self.ups = self.downs = 0

    def up(self) -> None:
        if not self.shown:
            self.ups += 1
        super().up()

    def down(self) -> None:
        if self.shown:
            self.downs += 1
        super().down()


@pytest.fixture
def scheduler(db, tmp_path):
    s = Scheduler(ModelHost(), db, sign=CountingSign(tmp_path / "signs"))
    yield s
    s.shutdown()


def test_the_sign_is_up_while_a_job_runs_and_down_after(scheduler, tmp_path):
    folder = tmp_path / "signs"
    seen = scheduler.submit(lambda ctx: engine_generating(folder))
    assert seen.done.wait(30) and seen.result is True
    assert wait_for(lambda: not engine_generating(folder), 5)


def test_a_failed_job_takes_the_sign_down(scheduler, tmp_path):
    def failing(ctx):
        assert engine_generating(tmp_path / "signs")
        raise RuntimeError("the reply failed")

    handle = scheduler.submit(failing)
    assert handle.done.wait(30) and isinstance(handle.error, RuntimeError)
    assert wait_for(lambda: not engine_generating(tmp_path / "signs"), 5)


def test_queued_jobs_keep_it_up_and_a_skipped_job_never_raises_it(scheduler, tmp_path):
    gate = threading.Event()
    first = scheduler.submit(lambda ctx: gate.wait(30))
    second = scheduler.submit(lambda ctx: engine_generating(tmp_path / "signs"))
    gate.set()
    assert second.done.wait(30) and first.done.is_set() and second.result is True
    assert wait_for(lambda: not engine_generating(tmp_path / "signs"), 5)
    assert scheduler.sign.downs == 1, "down once, when the queue ran dry, not between the two jobs"
    stopped = threading.Event()
    stopped.set()
    skipped = scheduler.submit(lambda ctx: None, stop_event=stopped)
    assert skipped.done.wait(30) and scheduler.sign.ups == 1, "a job stopped before it started uses no core"


def test_a_job_stopped_in_the_queue_behind_another_takes_the_sign_down(scheduler, tmp_path):
    gate = threading.Event()
    first = scheduler.submit(lambda ctx: gate.wait(30))
    behind = scheduler.submit(lambda ctx: None)
    assert wait_for(lambda: engine_generating(tmp_path / "signs"), 5)
    behind.stop()  # the first one ends with this one still queued, so it leaves the sign up for it
    gate.set()
    assert first.done.wait(30) and behind.done.wait(30) and isinstance(behind.error, Exception)
    assert wait_for(lambda: not engine_generating(tmp_path / "signs"), 5), "nothing runs: the sign must be down"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    with running_engine(tmp_path_factory.mktemp("generating-sign")) as eng:
        yield eng


def _stream(client, max_tokens: int):
    return client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=max_tokens, stream=True,
                                          temperature=0.0, extra_body={"ignore_eos": True})


def test_a_real_reply_puts_the_sign_up_and_takes_it_down(engine):
    folder = engine.home / "generating"
    client = engine.client()
    client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=1)  # loads the model
    assert wait_for(lambda: not engine_generating(folder), 10)
    stream = _stream(client, 48)
    next(stream)
    assert engine_generating(folder), "mid-reply, the training job must see the sign"
    assert [p.name for p in folder.iterdir()] == [str(engine.proc.pid)]
    chunks = sum(1 for _ in stream)
    assert chunks > 10
    assert wait_for(lambda: not engine_generating(folder), 10), "the reply ended: the sign must come down"


def test_a_stopped_reply_takes_the_sign_down(engine):
    folder = engine.home / "generating"
    client = engine.client()
    stream = _stream(client, 4000)  # minutes of work if nobody stopped it
    for _ in range(3):
        next(stream)
    assert engine_generating(folder)
    stream.close()  # the client leaves; the engine stops within a token
    assert wait_for(lambda: not engine_generating(folder), 15)


def test_the_sign_of_an_engine_killed_mid_reply_is_ignored(tmp_path):
    with running_engine(tmp_path / "home") as eng:
        folder = eng.home / "generating"
        stream = _stream(eng.client(), 4000)
        next(stream)
        assert engine_generating(folder)
        os.kill(eng.proc.pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        eng.proc.wait(timeout=30)
        assert (folder / str(eng.proc.pid)).exists(), "killed, it could not take its sign down"
        assert not engine_generating(folder)
