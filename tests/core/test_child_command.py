"""How Hearth starts itself as a child: this Python with `-m app` from a checkout or install, the app's own
executable with a sub-command when frozen; the command really runs the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.core import child_command
from app.core.child_command import app_command, child_env
from app.core.training import runner


def test_installed_runs_this_python_with_the_app_module(monkeypatch):
    monkeypatch.delattr(sys, "frozen", raising=False)
    assert app_command("serve", "--port", "0") == [sys.executable, "-m", "app", "serve", "--port", "0"]


def test_frozen_runs_the_app_executable_with_the_sub_command(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(child_command.sys, "executable", "/Applications/Hearth.app/Contents/MacOS/Hearth")
    assert app_command("serve", "--parent-pid", "7") == ["/Applications/Hearth.app/Contents/MacOS/Hearth", "serve",
                                                         "--parent-pid", "7"]
    worker = runner.worker_command(Path("runs/3"), detached=True)
    assert worker == ["/Applications/Hearth.app/Contents/MacOS/Hearth", "train-worker", str(Path("runs/3/job.json")),
                      "--detached"]


def test_the_command_reaches_the_cli_and_its_hidden_sub_commands():
    run = subprocess.run(app_command("train-worker", "--help"), capture_output=True, text=True, env=child_env(),
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "job" in run.stdout
    assert child_env()["PYTHONUNBUFFERED"] == "1"
