"""The core knows no screen: nothing under app/core imports Qt, and the window does not pay for torch."""

import pkgutil
import subprocess
import sys

import app.core


def test_nothing_under_core_imports_pyside6():
    modules = [m.name for m in pkgutil.walk_packages(app.core.__path__, "app.core.") if ".migrations" not in m.name]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))\n"
        "print(len(bad)); print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert len(modules) > 10
    assert out.splitlines()[0] == "0", out


def test_the_window_modules_do_not_import_torch_or_transformers():
    code = "import sys, app.ui.app, app.cli; print(sorted(m for m in ('torch','transformers','peft','bitsandbytes') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_window_does_not_import_the_hub_client_at_start():
    """huggingface_hub and its HTTP stack cost ~0.13 s to import; the window loads them when the hub is first used."""
    code = (
        "import sys, app.ui.app\n"
        "print(sorted(m for m in ('huggingface_hub', 'httpx2', 'app.core.library.downloads') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_training_tab_leaves_torch_to_the_training_child(tmp_path):
    """Opening the Training tab and previewing a dataset needs no torch, transformers, peft or bitsandbytes, and no
    llama_cpp either: the preview tokenizes GGUF text in the engine process."""
    code = (
        "import os, sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.core.startup import open_core\n"
        "from app.ui.app import build_window\n"
        "core = open_core(); win, engine = build_window(core); win.show()\n"
        "win.tabs.setCurrentWidget(win.training_tab); app.processEvents()\n"
        "page = win.training_tab.new_job; page.preview()\n"
        "import time\n"
        "end = time.time() + 60\n"
        "while time.time() < end and page.building: app.processEvents(); time.sleep(0.02)\n"
        "print(page.summary.text().replace(chr(10), ' '))\n"
        "print(sorted(m for m in ('torch','transformers','peft','bitsandbytes','llama_cpp') if m in sys.modules))\n"
        "engine.shutdown(); win.close()\n"
    )
    env = {**__import__("os").environ, "HEARTH_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    summary, modules = out.stdout.strip().splitlines()[-2:]
    assert modules == "[]"
    assert "could not be built" not in summary and "Building" not in summary, summary  # the preview answered


def test_the_window_code_never_imports_the_benchmarks_or_the_test_hub():
    """app/bench holds benchmarks and the fake hub the tests serve; the shipped window must not depend on them."""
    import ast
    from pathlib import Path

    import app.ui

    offenders = []
    for path in Path(app.ui.__path__[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n == "app.bench" or n.startswith("app.bench.")]
    assert offenders == []


def test_the_window_process_never_imports_the_model_libraries(tmp_path):
    """The real window with its engine: a model loaded and a reply streamed, all in the engine process; the window's
    own process has none of llama_cpp, torch, transformers or peft."""
    code = (
        "import sys, time\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from app.core.startup import open_core\n"
        "from app.ui.app import build_window, load_default_model\n"
        "core = open_core(); win, engine = build_window(core); win.show()\n"
        "done = []\n"
        "win.chat.reply_settled.connect(lambda mid, result: done.append(result))\n"
        "win.chat.forced_params = {'ignore_eos': True, 'max_tokens': 8}\n"
        "load_default_model(win); win.chat.send('Hi')\n"
        "end = time.time() + 120\n"
        "while time.time() < end and not done: app.processEvents(); time.sleep(0.01)\n"
        "print(type(done[0]).__name__ if done else 'no reply', engine.pid)\n"
        "print(sorted(m for m in ('llama_cpp', 'torch', 'transformers', 'peft') if m in sys.modules))\n"
        "engine.shutdown(); win.close()\n"
    )
    env = {**__import__("os").environ, "HEARTH_HOME": str(tmp_path), "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    reply, modules = out.stdout.strip().splitlines()[-2:]
    assert reply.startswith("Finished ")  # the reply came, from the engine process
    assert modules == "[]"


def test_the_window_imports_its_http_client_only_when_it_talks_to_the_engine():
    """httpx and httpx-sse cost start-up time; the engine controller loads them in its first request's thread."""
    names = ("httpx", "httpx_sse", "fastapi", "uvicorn")
    code = f"import sys, app.ui.app; print(sorted(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
