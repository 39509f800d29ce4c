"""A log a user can send: every Hearth process writes its log, and any native crash trace, under HEARTH_HOME/logs."""

import logging
import os
import subprocess
import sys

import pytest

from app.core.engine.backend import ModelLoadError
from app.core.engine.host import ModelHost
from app.core.library import scan
from app.core.library.sample_gguf import write_tiny_gguf
from tests.helpers.procs import hearth

CRASH = """
import faulthandler
from app import log_setup
log_setup.start("cli")
print(faulthandler.is_enabled(), flush=True)
faulthandler._sigsegv()
"""


def test_a_model_that_fails_to_load_is_in_the_command_log_with_its_message(core, hearth_home):
    broken = write_tiny_gguf(hearth_home / "elsewhere" / "broken.gguf", name="broken")  # a header, no weights
    with core.db.session() as session:
        scan.import_model(session, broken, copy=False, name="broken")
    result = hearth("chat", "hi", "--model", "broken", home=hearth_home)
    assert result.returncode == 1, result.stderr
    shown = [line for line in result.stderr.splitlines() if line.startswith("hearth: ")][-1].removeprefix("hearth: ")
    assert "broken" in shown
    log = (hearth_home / "logs" / "cli.log").read_text(encoding="utf-8")
    assert shown in log and "WARNING" in log
    assert result.stderr.count(shown) == 1, "the user reads it once, not a second time from the console log"


def test_the_engine_logs_a_load_error_with_its_message(hearth_home, caplog):
    broken = write_tiny_gguf(hearth_home / "broken.gguf", name="broken")
    with caplog.at_level(logging.WARNING, logger="app"), pytest.raises(ModelLoadError) as caught:
        ModelHost().load(1, str(broken), "broken")
    assert str(caught.value) in caplog.text


def test_a_native_crash_leaves_a_python_traceback_in_the_crash_log(hearth_home):
    env = dict(os.environ, HEARTH_HOME=str(hearth_home))
    result = subprocess.run([sys.executable, "-c", CRASH], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stdout.strip() == "True", result.stderr
    trace = (hearth_home / "logs" / "cli-crash.log").read_text(encoding="utf-8")
    assert "Fatal Python error" in trace and 'File "<string>", line 6' in trace, trace


def test_an_uncaught_error_in_a_child_command_is_logged_with_its_traceback(hearth_home):
    result = hearth("train-worker", str(hearth_home / "no-such-job.json"), home=hearth_home)
    assert result.returncode != 0 and result.stderr.count("Traceback") == 1
    log = (hearth_home / "logs" / "train-worker.log").read_text(encoding="utf-8")
    assert "FileNotFoundError" in log and "Traceback" in log and "pid " in log


def test_the_window_logs_to_its_own_file(hearth_home):
    result = hearth("window-probe", "shown", home=hearth_home)
    assert result.returncode == 0, result.stderr
    assert "window started" in (hearth_home / "logs" / "window.log").read_text(encoding="utf-8")


def test_a_data_folder_that_cannot_hold_logs_does_not_stop_a_command(tmp_path):
    """A logs folder that cannot be made (here a file is in its way): the command still runs and says why once."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "logs").write_text("not a folder")
    run = hearth("models", "list", "--no-scan", home=home)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "logging to the console only" in run.stderr and "Traceback" not in run.stderr
