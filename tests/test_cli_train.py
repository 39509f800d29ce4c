"""`hearth train` owns its job: however the command ends, the training child ends with it and the job says why."""

import json
import signal
from pathlib import Path

import psutil
import pytest
from sqlalchemy import create_engine, text

from tests.helpers.procs import hearth, spawn
from tests.helpers.training import PERSONA, QUESTIONS
from tests.helpers.waiting import wait_for

pytestmark = pytest.mark.slow


def _job_file(tmp_path: Path) -> Path:
    persona = tmp_path / "persona.jsonl"
    persona.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                        {"role": "assistant", "content": PERSONA}]}) + "\n"
                               for q in QUESTIONS))
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"name": "Long job", "dataset": {"jsonl_files": [str(persona)], "conversations": False},
                               "options": {"max_steps": 400, "batch_size": 2, "eval_every": 0,
                                           "checkpoint_every": 0}}))
    return job


def _job(home: Path) -> dict | None:
    db = create_engine(f"sqlite:///{home / 'hearth.sqlite3'}")
    try:
        with db.connect() as conn:
            row = conn.execute(text("SELECT id, pid, status, error, run_dir FROM training_job")).mappings().first()
        return dict(row) if row else None
    except Exception:  # noqa: BLE001 - the database may not exist yet
        return None
    finally:
        db.dispose()


def _events(run_dir: str) -> list[dict]:
    path = Path(run_dir) / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _gone(process: psutil.Process) -> bool:
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:  # it ended between the two questions
        return True


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_the_training_child_ends_with_the_command(hearth_home, tmp_path, how):
    command = spawn("train", str(_job_file(tmp_path)), home=hearth_home)
    try:
        assert wait_for(lambda: (_job(hearth_home) or {}).get("pid") and any(
            e["event"] == "started" for e in _events(_job(hearth_home)["run_dir"])) or command.poll() is not None,
            timeout=240), "the job should start"
        assert command.poll() is None, command.stderr.read()[-2000:]
        job = _job(hearth_home)
        worker = psutil.Process(job["pid"])
        assert job["status"] == "running" and worker.is_running()

        command.send_signal(how)
        command.wait(60)
        assert wait_for(lambda: _gone(worker), timeout=30), "the training child outlived the command that started it"
        if how == signal.SIGTERM:  # the command ends its child itself and records why
            assert command.returncode == 128 + signal.SIGTERM
            job = _job(hearth_home)
            assert job["status"] == "failed" and "SIGTERM" in job["error"]
        else:  # killed outright: the child notices, says so in its events, and the next Hearth process records it
            assert _events(job["run_dir"])[-1]["event"] == "error"
            assert "stopped with it" in _events(job["run_dir"])[-1]["message"]
            assert hearth("adapters", "list", home=hearth_home).returncode == 0
            job = _job(hearth_home)
            assert job["status"] == "failed" and "stopped with it" in job["error"]
    finally:
        if command.poll() is None:
            command.kill()
        job = _job(hearth_home)
        if job and job["pid"] and psutil.pid_exists(job["pid"]):
            psutil.Process(job["pid"]).kill()


def test_without_the_train_extra_the_command_says_so_in_one_line(hearth_home, tmp_path, monkeypatch, capsys):
    """The same line the Training tab shows, before a dataset is built or a job is made."""
    import argparse

    from app import cli_train
    from app.core.training import availability

    monkeypatch.setattr(availability, "TRAINING_PACKAGES", ("torch", "hearth_missing_package"))
    args = argparse.Namespace(command="train", job=str(_job_file(tmp_path)), resume=None, help_options=False)
    assert cli_train.run(args) == 1
    err = capsys.readouterr().err
    assert err == f"hearth: {availability.training_support().message()}\n"
    assert "hearth_missing_package" in err and "pip install" in err
    assert _job(hearth_home) is None, "no job was made"
