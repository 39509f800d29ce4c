"""Whose jobs outlive whom: the window's jobs outlive the window; a run that owns its jobs ends them with it."""

import os

import pytest
from PySide6.QtCore import QProcess

from app.ui.training.job_controller import JobController
from tests.helpers.training import make_job


@pytest.mark.parametrize("owned", [False, True])
def test_a_job_is_tied_to_this_process_only_when_the_run_owns_it(qtbot, core, tmp_path, monkeypatch, owned):
    job = make_job(core, tmp_path)
    started = []
    monkeypatch.setattr(QProcess, "startDetached", lambda program, args, cwd: (started.append(args), (False, 0))[1])
    controller = JobController(core.db)
    controller.end_jobs_with_app = owned
    with pytest.raises(RuntimeError, match="Could not start"):
        controller.start(job.id)
    (args,) = started
    assert ("--end-with" in args) == owned
    if owned:
        assert args[args.index("--end-with") + 1] == str(os.getpid())
