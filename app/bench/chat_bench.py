"""`hearth bench chat`: the app's chat path against a raw llama-cpp-python loop, in one run, on the same prompts.

Measured: decode tokens/s (the engine process → coalesced SSE batches over HTTP → queued signals → a real chat
view under Qt) vs a raw `create_completion(stream=True)` loop in this process; time to first token of both;
main-thread event-loop stalls while streaming; process start to a shown window; the window process's idle memory
with the model loaded in the engine (and the engine's, for reference).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.core.units import MB, format_bytes

PROMPTS = (
    "Write a detailed essay about the history of bread, from ancient Egypt to modern bakeries.",
    "Explain step by step how a steam engine works, with examples.",
    "Describe a walk through a busy city market in the early morning, in rich detail.",
)
TICK_MS = 5


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _raw_round(llm, tokens: list[int], max_tokens: int) -> dict:
    started = time.perf_counter()
    first = last = None
    count = 0
    for _chunk in llm.create_completion(
        tokens, max_tokens=max_tokens, temperature=0.0, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0, stream=True
    ):
        now = time.perf_counter()
        first = first or now
        last = now
        count += 1
    return {"tokens": count, "ttft_s": first - started, "decode_tps": (count - 1) / (last - first)}


class _AppProbe:
    """Watches one reply in the real window from the main thread: first text on screen, done, and stalls."""

    def __init__(self, window):
        from PySide6.QtCore import QObject, Qt, QTimer, Slot

        probe = self

        class Receiver(QObject):
            @Slot(int, str)
            def tokens(self, _mid, _text):
                if probe.first is None:
                    probe.first = time.perf_counter()

            @Slot(int, object)
            def finished(self, _mid, event):
                probe.done, probe.final = time.perf_counter(), event

            @Slot()
            def tick(self):
                now = time.perf_counter()
                if probe.last_tick is not None and probe.first is not None and probe.done is None:
                    probe.stalls.append(max(0.0, (now - probe.last_tick) * 1000 - TICK_MS))
                probe.last_tick = now

        self.receiver = Receiver()
        # Connected after the chat tab's own slots, so "first" is taken once the text is in the view.
        window.engine.worker.token_batch_ready.connect(self.receiver.tokens)
        window.engine.worker.reply_finished.connect(self.receiver.finished)
        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self.receiver.tick)
        self.stalls: list[float] = []
        self.reset()

    def reset(self) -> None:
        self.first = self.done = self.final = self.last_tick = None


def _app_round(app, window, probe: _AppProbe, prompt: str, max_tokens: int) -> dict:
    chat = window.chat
    chat.new_chat()
    chat.settings_panel.form.set_values({**chat.settings_panel.form.values(), "temperature": 0.0, "repeat_penalty": 1.0, "max_tokens": max_tokens})
    probe.reset()
    probe.timer.start()
    started = time.perf_counter()
    chat.send(prompt)
    while probe.done is None:
        app.processEvents()
        time.sleep(0.0005)
    probe.timer.stop()
    tokens = probe.final.completion_tokens
    return {"tokens": tokens, "ttft_s": probe.first - started, "decode_tps": (tokens - 1) / (probe.done - probe.first)}


def _startup(kind: str, home: str) -> str:
    env = dict(os.environ, HEARTH_HOME=home, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    started = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "app", "window-probe", kind], env=env, capture_output=True, text=True, timeout=120
    )
    for line in out.stdout.splitlines():
        if line.startswith("WINDOW_SHOWN "):
            return f"{float(line.split()[1]) - started:.6f}"
        if line.startswith("IDLE_RSS "):
            return " ".join(line.split()[1:])
    raise RuntimeError(f"window probe failed: {out.stderr[-1500:]}")


def run(args) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="hearth-bench-")
    os.environ["HEARTH_HOME"] = home

    # Start-up first, on a quiet machine: one cold start (creates the database), then warm starts.
    cold = float(_startup("shown", home))
    warm = [float(_startup("shown", home)) for _ in range(3)]
    idle_rss, engine_rss = (int(x) for x in _startup("idle-rss", home).split()[:2])

    from PySide6.QtWidgets import QApplication

    from app.core.engine.backend import ChatMessage
    from app.core.engine.llama_backend import LlamaBackend
    from app.core.startup import open_core
    from app.ui.app import apply_theme, build_window, load_default_model

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    core = open_core()
    window, engine = build_window(core)
    window.resize(1280, 800)
    window.show()
    loaded = []
    engine.worker.model_loaded.connect(loaded.append)
    load_default_model(window)
    while not loaded:
        app.processEvents()
        time.sleep(0.01)
    info = loaded[0]
    settings = core.settings
    # The raw side in this process: the same file, context, threads and weight layouts as the engine's load, and
    # the same prompt tokens (the model's own chat template).
    backend = LlamaBackend(info.path, name=info.name, n_ctx=info.n_ctx, n_threads=settings["n_threads"],
                           n_gpu_layers=settings["gpu_layers"])
    raw = backend.llm
    probe = _AppProbe(window)
    raw_rounds, app_rounds = [], []
    for _round in range(args.rounds):
        for prompt in PROMPTS:
            # The same tokens the app sends (the model's own chat template); raw and app alternate to share drift.
            tokens = backend.prompt_tokens([ChatMessage("user", prompt)])
            raw_rounds.append(_raw_round(raw, tokens, args.tokens))
            app_rounds.append(_app_round(app, window, probe, prompt, args.tokens))
    backend.close()
    engine.shutdown()
    window.close()

    def med(rounds, key):
        return statistics.median(r[key] for r in rounds)

    result = {
        "decode_tps_app": round(med(app_rounds, "decode_tps"), 2),
        "decode_tps_raw": round(med(raw_rounds, "decode_tps"), 2),
        "decode_ratio": round(med(app_rounds, "decode_tps") / med(raw_rounds, "decode_tps"), 4),
        "ttft_app_ms": round(med(app_rounds, "ttft_s") * 1000, 2),
        "ttft_raw_ms": round(med(raw_rounds, "ttft_s") * 1000, 2),
        "ttft_overhead_ms": round((med(app_rounds, "ttft_s") - med(raw_rounds, "ttft_s")) * 1000, 2),
        "stall_p50_ms": round(_percentile(probe.stalls, 50), 2),
        "stall_p99_ms": round(_percentile(probe.stalls, 99), 2),
        "stall_max_ms": round(max(probe.stalls, default=0.0), 2),
        "stall_samples": len(probe.stalls),
        "window_shown_s": round(statistics.median(warm), 3),
        "window_shown_cold_s": round(cold, 3),
        "idle_rss_mb": round(idle_rss / MB, 1),
        "engine_idle_rss_mb": round(engine_rss / MB, 1),
        "tokens_per_round": [r["tokens"] for r in app_rounds],
        "rounds": {"app": app_rounds, "raw": raw_rounds},
        "settings": {"n_threads": settings["n_threads"], "n_ctx": backend.info.n_ctx, "max_tokens": args.tokens},
        "model": backend.info.name,
    }
    rows = [
        ("decode tok/s (app / raw)", f"{result['decode_tps_app']} / {result['decode_tps_raw']}", f"ratio {result['decode_ratio']:.3f} (target ≥ 0.97)"),
        ("time to first token (app / raw)", f"{result['ttft_app_ms']} / {result['ttft_raw_ms']} ms", f"overhead {result['ttft_overhead_ms']} ms (target ≤ 30)"),
        ("UI stall while streaming", f"p50 {result['stall_p50_ms']} ms", f"p99 {result['stall_p99_ms']} ms (target ≤ 16)"),
        ("start to shown window", f"{result['window_shown_s']} s warm", f"{result['window_shown_cold_s']} s first start (target ≤ 1.0)"),
        ("window idle memory, model loaded", format_bytes(idle_rss), f"target ≤ 200 MB; the engine: {format_bytes(engine_rss)}"),
    ]
    print(f"Hearth chat benchmark · {result['model']} · {settings['n_threads']} thread(s) · {args.rounds}×{len(PROMPTS)} prompts")
    for name, value, note in rows:
        print(f"  {name:<34} {value:<26} {note}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    core.db.close()
    return 0
