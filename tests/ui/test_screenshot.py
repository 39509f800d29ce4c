"""`hearth screenshot` renders from sample data: the hub page needs no server, and nothing is left behind."""

import tempfile
from pathlib import Path

from tests.helpers.procs import hearth


def test_the_hub_screenshot_is_drawn_from_data_and_cleans_up(hearth_home, tmp_path):
    before = set(Path(tempfile.gettempdir()).glob("hearth-shot-*"))
    out = tmp_path / "hub.png"
    run = hearth("screenshot", str(out), "--tab", "hub", "--width", "1024", "--height", "680", home=hearth_home,
                 timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    assert set(Path(tempfile.gettempdir()).glob("hearth-shot-*")) <= before, "its sample home folder is removed"
