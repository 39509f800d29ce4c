"""The training side of giving way to chat: the engine's sign is read right (live, stale, from a reused pid), the
job trains on one thread while it is up and on all of them after, and the first reply lowers the job's priority for
good, for every thread, unless the courtesy is switched off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from app.core.engine.generating_sign import GeneratingSign, engine_generating
from app.core.training.yielding import SWITCH, ChatCourtesy

from tests.helpers.waiting import wait_for

ENGINE_STAND_IN = """
import sys, time
from pathlib import Path
from app.core.engine.generating_sign import GeneratingSign
GeneratingSign(Path(sys.argv[1])).up()
print("up", flush=True)
time.sleep(600)
"""


@pytest.fixture
def torch_threads(monkeypatch):
    """Torch's thread count, put back after; and no lowering of this test process's own priority (it could not be
    raised again for the tests after this one; the priority is checked in a child below)."""
    import torch

    from app.core.training import yielding

    monkeypatch.setattr(yielding, "lower_priority", lambda: None)
    before = torch.get_num_threads()
    yield torch
    torch.set_num_threads(before)


def test_no_folder_and_an_empty_folder_mean_no_reply(tmp_path):
    assert not engine_generating(tmp_path / "never-made")
    (tmp_path / "signs").mkdir()
    assert not engine_generating(tmp_path / "signs")


def test_a_sign_counts_only_while_its_engine_lives(tmp_path):
    folder = tmp_path / "signs"
    engine = subprocess.Popen([sys.executable, "-c", ENGINE_STAND_IN, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert engine.stdout.readline().strip() == "up"
        assert engine_generating(folder)
        engine.send_signal(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        engine.wait(timeout=30)
    finally:
        if engine.poll() is None:
            engine.kill()
    assert (folder / str(engine.pid)).exists(), "a killed engine cannot take its sign down"
    assert not engine_generating(folder), "the sign of a dead engine must be ignored"
    GeneratingSign(folder)  # the next engine to start sweeps it away
    assert not (folder / str(engine.pid)).exists()


def test_a_sign_whose_pid_now_belongs_to_another_process_is_ignored(tmp_path):
    tmp_path.joinpath(str(os.getpid())).write_text("12345.0", encoding="ascii")  # this pid, a start time not ours
    tmp_path.joinpath("not-a-pid").write_text("x", encoding="ascii")
    assert not engine_generating(tmp_path)


def test_up_and_down_are_idempotent(tmp_path):
    sign = GeneratingSign(tmp_path / "signs")
    sign.up()
    sign.up()
    assert engine_generating(tmp_path / "signs")
    assert [p.name for p in (tmp_path / "signs").iterdir()] == [str(os.getpid())]
    sign.down()
    sign.down()
    assert not engine_generating(tmp_path / "signs")


def test_threads_drop_while_the_engine_generates_and_come_back_after(tmp_path, torch_threads, monkeypatch):
    monkeypatch.delenv(SWITCH, raising=False)
    torch, before = torch_threads, os.getpriority(os.PRIO_PROCESS, 0) if hasattr(os, "getpriority") else None
    torch.set_num_threads(3)
    courtesy, sign = ChatCourtesy(3, folder=tmp_path), GeneratingSign(tmp_path)
    courtesy.between_batches()
    assert torch.get_num_threads() == 3, "no reply: all threads"
    sign.up()
    courtesy.between_batches()
    assert torch.get_num_threads() == 1 and courtesy.yielding
    courtesy.between_batches()
    assert torch.get_num_threads() == 1
    sign.down()
    courtesy.between_batches()
    assert torch.get_num_threads() == 3 and not courtesy.yielding
    assert before is None or os.getpriority(os.PRIO_PROCESS, 0) == before


def test_switched_off_the_threads_stay(tmp_path, torch_threads, monkeypatch):
    monkeypatch.setenv(SWITCH, "off")
    torch = torch_threads
    torch.set_num_threads(2)
    courtesy, sign = ChatCourtesy(2, folder=tmp_path), GeneratingSign(tmp_path)
    sign.up()
    courtesy.between_batches()
    assert torch.get_num_threads() == 2 and not courtesy.yielding
    sign.down()


PRIORITY_PROBE = """
import json, os, sys, threading
from pathlib import Path
import psutil
from app.core.engine.generating_sign import GeneratingSign
from app.core.training.yielding import ChatCourtesy
def priorities():
    return [os.getpriority(os.PRIO_PROCESS, t.id) for t in psutil.Process().threads()]
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()  # like torch's pool: there before the first reply
courtesy, sign = ChatCourtesy(1, folder=Path(sys.argv[1])), GeneratingSign(Path(sys.argv[1]))
courtesy.start()
seen = {"no reply yet": priorities()}
sign.up()
courtesy.between_batches()
threading.Thread(target=stop.wait, daemon=True).start()  # started after: inherits
seen["during a reply"] = priorities()
sign.down()
courtesy.between_batches()
seen["after it"] = priorities()
print(json.dumps(seen))
"""


def _thread_priorities(folder, env_switch: str) -> dict[str, list[int]]:
    env = dict(os.environ, **{SWITCH: env_switch})
    out = subprocess.run([sys.executable, "-c", PRIORITY_PROBE, str(folder)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_first_reply_lowers_every_thread_of_the_job_for_good_and_off_leaves_them(tmp_path):
    mine, low = os.getpriority(os.PRIO_PROCESS, 0), max(19, os.getpriority(os.PRIO_PROCESS, 0))
    seen = _thread_priorities(tmp_path / "on", "on")
    assert set(seen["no reply yet"]) == {mine}, "a job nobody chats beside keeps its standing"
    assert len(seen["during a reply"]) >= 3 and set(seen["during a reply"]) == {low}, seen
    assert set(seen["after it"]) == {low}, "an unprivileged process cannot raise it back"
    off = _thread_priorities(tmp_path / "off", "off")
    assert all(set(p) == {mine} for p in off.values()), off


def test_the_sign_is_read_by_a_courtesy_in_another_process(tmp_path):
    """What the worker does: a separate process reads the engine's sign (here: ours)."""
    probe = ("import sys, torch; from pathlib import Path; from app.core.training.yielding import ChatCourtesy\n"
             "torch.set_num_threads(2); c = ChatCourtesy(2, folder=Path(sys.argv[1])); c.between_batches()\n"
             "print(torch.get_num_threads())")
    sign = GeneratingSign(tmp_path)
    sign.up()
    try:
        env = {k: v for k, v in os.environ.items() if k != SWITCH}
        out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], env=env, capture_output=True, text=True,
                             timeout=120)
    finally:
        sign.down()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "1"
    assert wait_for(lambda: not engine_generating(tmp_path), 1)
