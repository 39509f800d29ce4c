"""`hearth models pull` in a child process against a hub on 127.0.0.1: choose, download, verify, resume."""

import os
import signal
import subprocess
import sys
import time

import pytest

from app.bench.local_hub import LocalHub
from app.core.library.sample_gguf import write_tiny_gguf
from tests.helpers.waiting import wait_for

REPO = "hearth-test/Tiny-GGUF"


@pytest.fixture
def served(tmp_path):
    files = {
        name: write_tiny_gguf(tmp_path / "src" / name, name=name, sparse_bytes=24 * 1024 * 1024)
        for name in ("tiny.Q4_K_M.gguf", "tiny.Q8_0.gguf")
    }
    with LocalHub({REPO: files}) as hub:
        yield hub


def _pull(home, endpoint, *args, **kwargs):
    env = dict(os.environ, HEARTH_HOME=str(home), HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="0")
    return subprocess.Popen([sys.executable, "-m", "app", "models", "pull", REPO, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_pull_names_the_choices_then_downloads_resumes_and_registers(hearth_home, served):
    ask = _pull(hearth_home, served.endpoint)
    out, err = ask.communicate(timeout=60)
    assert ask.returncode == 2 and "tiny.Q4_K_M.gguf" in err and "tiny.Q8_0.gguf" in err

    served.throttle(4 * 1024 * 1024)
    first = _pull(hearth_home, served.endpoint, "tiny.Q8_0.gguf")

    def part_bytes() -> int:
        return sum(p.stat().st_size for p in (hearth_home / "models").rglob("*.part"))

    assert wait_for(lambda: part_bytes() >= 1024 * 1024 or first.poll() is not None, timeout=60)
    assert first.poll() is None, "the throttled download is still running when Ctrl-C comes"
    first.send_signal(signal.SIGINT)  # Ctrl-C pauses, keeping the part
    out, err = first.communicate(timeout=60)
    assert first.returncode == 130 and "Run the same command again to resume" in err, err[-800:]
    served.throttle(None)
    second = _pull(hearth_home, served.endpoint, "tiny.Q8_0.gguf")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-1500:]
    assert "sha256 verified" in out
    starts = served.range_starts("tiny.Q8_0.gguf")
    assert starts[0] == 0 and starts[-1] > 0, f"the second run resumed from the part, not from zero: {starts}"
    listed = subprocess.run([sys.executable, "-m", "app", "models", "list", "--json", "--no-scan"],
                            env=dict(os.environ, HEARTH_HOME=str(hearth_home)), capture_output=True, text=True)
    assert '"repo_id": "hearth-test/Tiny-GGUF"' in listed.stdout


def test_pull_offline_fails_fast_with_a_clear_message(hearth_home):
    started = time.monotonic()
    proc = _pull(hearth_home, "http://127.0.0.1:9", "tiny.Q8_0.gguf")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "offline" in err.lower() and "Traceback" not in err
    assert time.monotonic() - started < 15  # includes starting Python
