"""`hearth screenshot` renders from sample data: the hub page needs no server, and nothing is left behind."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers.procs import hearth


def test_the_hub_screenshot_is_drawn_from_data_and_cleans_up(hearth_home, tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("hearth-shot-*"))
    out = tmp_path / "hub.png"
    run = hearth("screenshot", str(out), "--tab", "hub", "--width", "1024", "--height", "680", home=hearth_home,
                 timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert set(Path(tempfile.gettempdir()).glob("hearth-shot-*")) <= before, "its sample home folder is removed"


@pytest.mark.parametrize("tab", ["training", "training-ab"])
def test_training_screenshots_are_drawn_from_a_recorded_job(hearth_home, tmp_path, tab):
    """No model is trained for a picture (a real run takes minutes): the recorded job is written and shown. Here
    torch cannot even be imported, so a training child would fail and the picture would never come."""
    no_torch = tmp_path / "no-torch" / "torch"
    no_torch.mkdir(parents=True)
    (no_torch / "__init__.py").write_text("raise ImportError('a screenshot must not train')\n")
    out = tmp_path / f"{tab}.png"
    env = dict(os.environ, HEARTH_HOME=str(hearth_home), QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(no_torch.parent))
    run = subprocess.run([sys.executable, "-m", "app", "screenshot", str(out), "--tab", tab, "--width", "1024",
                          "--height", "680"], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert "train-worker" not in run.stderr and "Traceback" not in run.stderr, run.stderr[-2000:]
