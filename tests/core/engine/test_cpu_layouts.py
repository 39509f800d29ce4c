"""llama.cpp's CPU-specific weight layouts are used only where this machine can run them."""

import subprocess
import sys

import pytest

from app.core.engine import cpu_layouts
from app.core.library.starter import starter_model_path

pytestmark = pytest.mark.slow


def test_a_long_prompt_decodes_in_a_child_through_the_backend():
    """On a CPU that advertises AMX without letting a process use it, the default layouts die with SIGSEGV."""
    code = (
        "from app.core.engine.llama_backend import LlamaBackend\n"
        "from app.core.engine.backend import ChatMessage\n"
        "from app.core.engine.params import GenerationParams\n"
        "from app.core.library.starter import starter_model_path\n"
        "b = LlamaBackend(starter_model_path(), n_ctx=2048)\n"
        "events = list(b.stream([ChatMessage('user', 'word ' * 600)], GenerationParams(max_tokens=4, seed=1), lambda: False))\n"
        "print(type(events[-1]).__name__)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().endswith("Finished")


def test_the_probe_answer_is_remembered(monkeypatch, tmp_path):
    monkeypatch.setenv("HEARTH_CACHE", str(tmp_path))
    monkeypatch.setattr(cpu_layouts, "cpu_advertises_amx", lambda: True)
    calls = []
    monkeypatch.setattr(cpu_layouts, "_probe", lambda model: calls.append(model) or False)
    cpu_layouts.extra_layouts_allowed.cache_clear()
    try:
        assert cpu_layouts.extra_layouts_allowed() is False
        cpu_layouts.extra_layouts_allowed.cache_clear()
        assert cpu_layouts.extra_layouts_allowed() is False
    finally:
        cpu_layouts.extra_layouts_allowed.cache_clear()
    assert calls == [starter_model_path()], "one probe, then the stored answer"
    assert (tmp_path / cpu_layouts.CACHE_FILE).is_file()


def test_no_probe_where_the_cpu_has_no_amx(monkeypatch):
    monkeypatch.setattr(cpu_layouts, "cpu_advertises_amx", lambda: False)
    monkeypatch.setattr(cpu_layouts, "_probe", lambda model: pytest.fail("probed a CPU without AMX"))
    cpu_layouts.extra_layouts_allowed.cache_clear()
    try:
        assert cpu_layouts.extra_layouts_allowed() is True
    finally:
        cpu_layouts.extra_layouts_allowed.cache_clear()


def test_the_layout_switch_reaches_llama_cpp():
    import llama_cpp.llama_cpp as lib

    with cpu_layouts.llama_layouts(False):
        assert lib.llama_model_default_params().use_extra_bufts is False
    assert lib.llama_model_default_params().use_extra_bufts is True


def test_the_probe_child_is_hearth_itself_with_a_sub_command(monkeypatch):
    """The probe's child is started like every child (a frozen app has no `-m`): it decodes, or dies of the CPU."""
    runs, real_run = [], subprocess.run

    def run(command, **kwargs):
        runs.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(cpu_layouts.subprocess, "run", run)
    allowed = cpu_layouts._probe(starter_model_path())
    assert runs and runs[0][-2:] == ["llama-layout-probe", str(starter_model_path())]
    usage = real_run(runs[0], capture_output=True, text=True, timeout=120)
    assert "usage:" not in usage.stderr
    assert allowed is (usage.returncode == 0)
    assert usage.returncode == 0 or usage.returncode < 0, usage.stderr[-2000:]  # a signal, never an error exit
