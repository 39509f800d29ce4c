"""Whether llama.cpp may keep weights in its CPU-specific layouts (repacked blocks, Intel AMX tiles).

Some machines advertise AMX in CPUID while the kernel or hypervisor under them does not let a process use the
tile registers: llama.cpp then dies with SIGSEGV on its first AMX instruction (`ldtilecfg`), on any prompt. On a
CPU that advertises AMX, a child process tries a real decode once; the answer is remembered per CPU, kernel and
llama.cpp version. Everywhere else nothing is asked and the layouts stay on.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from app import paths
from app.core.child_command import app_command

log = logging.getLogger(__name__)

CACHE_FILE = "llama-cpu-layouts.json"
_patch_lock = threading.Lock()


def _cpu_flags_and_name() -> tuple[set[str], str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set(), ""
    flags, name = set(), ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and not flags:
            flags = set(value.split())
        elif key.strip() == "model name" and not name:
            name = value.strip()
    return flags, name


def cpu_advertises_amx() -> bool:
    return sys.platform.startswith("linux") and "amx_tile" in _cpu_flags_and_name()[0]


def _probe_key() -> str:
    import llama_cpp

    return f"{llama_cpp.__version__}|{_cpu_flags_and_name()[1]}|{platform.release()}"


def _probe(model: Path) -> bool:
    """A decode in a child with the layouts on: a SIGSEGV there costs a child, not the app."""
    try:
        run = subprocess.run(app_command("llama-layout-probe", str(model)), capture_output=True, text=True,
                             timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("llama.cpp layout probe did not finish (%s); keeping plain layouts", exc)
        return False
    log.info("llama.cpp layout probe: exit %s", run.returncode)
    return run.returncode == 0


@cache
def extra_layouts_allowed() -> bool:
    if not cpu_advertises_amx():
        return True
    from app.core.library.starter import starter_model_path

    cache_file = paths.cache_dir() / CACHE_FILE
    key = _probe_key()
    try:
        known = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if key in known:
        return bool(known[key])
    model = starter_model_path()
    if model is None:
        return False  # nothing small to try it on: the plain layouts are always safe, only a little slower
    allowed = _probe(model)
    known[key] = allowed
    try:
        cache_file.write_text(json.dumps(known, indent=2), encoding="utf-8")
    except OSError as exc:
        log.warning("could not remember the layout probe's answer in %s: %s", cache_file, exc)
    if not allowed:
        log.warning("this CPU advertises AMX but a process may not use it; llama.cpp runs with plain layouts")
    return allowed


@contextmanager
def llama_layouts(allowed: bool):
    """While a `Llama` is constructed inside this block, its weights use extra layouts only if `allowed`.

    llama-cpp-python builds its model parameters inside `Llama.__init__` and has no argument for this one, so
    the defaults it reads are adjusted for the duration of the call (under a lock: constructions are rare).
    """
    import llama_cpp.llama_cpp as lib

    with _patch_lock:
        original = lib.llama_model_default_params

        def defaults():
            params = original()
            params.use_extra_bufts = bool(allowed) and params.use_extra_bufts
            return params

        lib.llama_model_default_params = defaults
        try:
            yield
        finally:
            lib.llama_model_default_params = original


def open_llama(**kwargs):
    """`llama_cpp.Llama(**kwargs)` with the layouts this machine can run."""
    from llama_cpp import Llama

    with llama_layouts(extra_layouts_allowed()):
        return Llama(**kwargs)


def probe_main(model: str) -> int:
    """`hearth llama-layout-probe MODEL` (a child of `_probe`): a batch and a few decodes with the layouts on."""
    from llama_cpp import Llama

    llm = Llama(model_path=model, n_ctx=512, n_threads=1, n_threads_batch=1, verbose=False)
    tokens = llm.tokenize(b"word " * 200)
    llm.eval(tokens)  # a batch: the path that takes AMX tiles
    for _ in range(4):
        llm.eval([tokens[-1]])
    llm.close()
    return 0
