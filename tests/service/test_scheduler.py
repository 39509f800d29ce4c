"""The model owner runs jobs one at a time in FIFO order, refuses a full queue, and stops within a step."""

import asyncio
import threading

import pytest

from app.core.engine.host import ModelHost
from app.service.scheduler import JobStopped, QueueFull, Scheduler


@pytest.fixture
def scheduler(db):
    s = Scheduler(ModelHost(), db, max_queued=3)
    yield s
    s.shutdown()


def test_jobs_run_in_order_on_one_thread(scheduler):
    gate, order, threads = threading.Event(), [], set()

    def job(n):
        def run(ctx):
            if n == 0:
                gate.wait(10)
            order.append(n)
            threads.add(threading.current_thread().name)
            return n * 10
        return run

    handles = [scheduler.submit(job(0), "job 0")]
    while scheduler.running is None:  # the first runs (and holds the owner), three wait
        pass
    handles += [scheduler.submit(job(n), f"job {n}") for n in range(1, 4)]
    gate.set()
    for h in handles:
        assert h.done.wait(10)
    assert order == [0, 1, 2, 3]
    assert threads == {"model-owner"}
    assert [h.result for h in handles] == [0, 10, 20, 30]


def test_a_full_queue_is_refused_at_once(scheduler):
    gate = threading.Event()
    running = scheduler.submit(lambda ctx: gate.wait(10))
    while scheduler.running is None:
        pass
    waiting = [scheduler.submit(lambda ctx: None) for _ in range(3)]
    with pytest.raises(QueueFull):
        scheduler.submit(lambda ctx: None)
    gate.set()
    for h in [running, *waiting]:
        assert h.done.wait(10)
    scheduler.submit(lambda ctx: None).done.wait(10)  # room again


def test_events_reach_the_event_loop_in_order_and_a_stop_ends_the_job(scheduler):
    def counting(ctx):
        n = 0
        while not ctx.should_stop():
            ctx.emit({"event": "tick", "n": n})
            n += 1
            if n > 100_000:
                raise AssertionError("never stopped")
        return n

    async def main():
        handle = scheduler.submit(counting, "count")
        seen = []
        async for event in handle.events():
            seen.append(event["n"])
            if len(seen) == 5:
                handle.stop()
        return handle, seen

    handle, seen = asyncio.run(main())
    assert seen[:5] == [0, 1, 2, 3, 4] and seen == sorted(seen)
    assert handle.result == len(seen)


def test_a_stopped_queued_job_never_runs_and_an_error_reaches_the_caller(scheduler):
    gate, ran = threading.Event(), []
    first = scheduler.submit(lambda ctx: gate.wait(10))
    skipped = scheduler.submit(lambda ctx: ran.append(1))
    skipped.stop()
    failing = scheduler.submit(lambda ctx: 1 / 0)
    gate.set()
    for h in (first, skipped, failing):
        assert h.done.wait(10)
    assert ran == [] and isinstance(skipped.error, JobStopped)
    assert isinstance(failing.error, ZeroDivisionError)
    assert scheduler.submit(lambda ctx: "still alive").done.wait(10)
