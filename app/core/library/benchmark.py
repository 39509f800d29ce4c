"""'Benchmark on this machine': prompt processing and generation speed of a loaded model, through the app's own path.

It runs a fixed ~500-token prompt through the same backend.stream() the chat uses, so the figures are the ones a
user will see: prompt tokens / time to first token, and generated tokens / generation time.
"""

from __future__ import annotations

import platform
import time
from typing import Any

import psutil

from app.core.engine.backend import Backend, ChatMessage, StopCheck
from app.core.engine.events import Failed, Finished
from app.core.engine.params import GenerationParams

_PASSAGE = (
    "The lighthouse keeper wrote in his log every evening: the colour of the sea, the ships that passed, the birds "
    "that rested on the rail, and the small repairs the lamp needed. Over forty years the log grew into a history "
    "of the coast that nobody else had kept. "
)


class BenchmarkStopped(Exception):
    """The benchmark was stopped before it finished; it has no figures."""


def benchmark(backend: Backend, *, prompt_tokens: int = 512, gen_tokens: int = 128,
              should_stop: StopCheck = lambda: False) -> dict[str, Any]:
    text = _PASSAGE
    while backend.count_tokens([ChatMessage("user", text)]) < prompt_tokens:
        text += _PASSAGE
    messages = [ChatMessage("user", text + "\nSummarise the log in a long paragraph.")]
    params = GenerationParams(temperature=0.0, max_tokens=gen_tokens, seed=1)
    finished: Finished | None = None
    backend.clear_cache()  # a second run would otherwise time a prompt already in the cache
    started = time.perf_counter()
    for event in backend.stream(messages, params, should_stop):
        if isinstance(event, Finished):
            finished = event
        elif isinstance(event, Failed):
            raise RuntimeError(event.message)
    if finished is not None and finished.finish_reason == "stopped":
        raise BenchmarkStopped("stopped")
    if finished is None or finished.ttft_s <= 0:
        raise RuntimeError("the benchmark produced no tokens")
    return {
        "prompt_tokens": finished.prompt_tokens,
        "prompt_tok_s": round(finished.prompt_tokens / finished.ttft_s, 1),
        "gen_tokens": finished.completion_tokens,
        "gen_tok_s": round(finished.tokens_per_s, 1),
        "backend": backend.info.backend,
        "n_ctx": backend.info.n_ctx,
        "seconds": round(time.perf_counter() - started, 2),
        "machine": f"{platform.processor() or platform.machine()}, {psutil.cpu_count(logical=False)} cores",
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
