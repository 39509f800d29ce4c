"""Before a job starts: roughly how much memory and time it will take on this machine, and whether it fits.

Memory: the base weights (float32 for LoRA, about 4.5 bits per weight for QLoRA), the logits of one batch (the
vocabulary is the largest activation for small models), the other activations, and torch's own overhead.
Time: the worker's start-up (Python and torch imported, the model loaded, a first evaluation), the steps, and the
finish (a last evaluation, the adapter saved and converted). Once this model has finished jobs, all three come from
them (pace.py); before that, from rates measured on SmolLM2-135M on a 2-core CPU, scaled by parameter count and
cores. A small job is mostly start-up. It is a guide, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from app.core.library.fit import MemoryBudget
from app.core.training.batches import steps_per_epoch
from app.core.training.pace import Pace
from app.core.units import format_bytes

MiB = 2**20
TORCH_OVERHEAD = 600 * MiB
REFERENCE_TPS, REFERENCE_PARAMS, REFERENCE_CORES = 170.0, 135e6, 2
QLORA_CPU_SLOWDOWN = 2.0
# Measured with the starter model on a 2-core CPU: the job's start to its first step (Python, torch and
# transformers imported, the model loaded, the first evaluation), from the last step to `done`, and the one-off
# plain copy of a GGUF that a model's first job makes. Larger models load and convert for longer.
DEFAULT_STARTUP_S, DEFAULT_FINISH_S, DEFAULT_CONVERSION_S = 15.0, 3.0, 20.0
STARTUP_S_PER_GPARAM = 20.0


@dataclass(frozen=True)
class TrainingEstimate:
    memory: int
    seconds: float
    steps: int
    tokens_per_s: float
    measured: bool  # the timings come from this model's past jobs
    fits: bool
    budget: MemoryBudget
    startup_s: float = 0.0  # of `seconds`, the time before the first step
    seconds_per_step: float = 0.0
    converts: bool = False  # the start-up includes making the GGUF's plain copy (a model's first job)

    def explain(self) -> str:
        source = "from your earlier jobs on this model" if self.measured else "a rough guess until a first job runs"
        start = f"{_duration(self.startup_s)} to start" + (" (once: a training copy of the model)" if self.converts
                                                            else "")
        text = (f"{self.steps} steps, {_duration(self.seconds)}: {start}, then "
                f"{self.seconds_per_step:.1f} s a step at ~{self.tokens_per_s:.0f} tokens/s ({source}); "
                f"about {format_bytes(self.memory)} of memory, {format_bytes(self.budget.ram_available)} free now.")
        if not self.fits:
            text += " It will not fit: lower the batch size or the maximum length, or use QLoRA."
        return text


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"about {minutes:.0f} min" if minutes >= 1.5 else f"about {seconds:.0f} s"


def default_startup_s(params: float) -> float:
    return DEFAULT_STARTUP_S + STARTUP_S_PER_GPARAM * max(0.0, params - REFERENCE_PARAMS) / 1e9


def default_conversion_s(params: float) -> float:
    return DEFAULT_CONVERSION_S * max(1.0, params / REFERENCE_PARAMS)


def estimate_job(info: dict, options: dict, n_examples: int, mean_tokens: float, *, pace: Pace | None = None,
                 converts: bool = False, budget: MemoryBudget | None = None, on_gpu: bool = False) -> TrainingEstimate:
    """`pace`: what this model's finished jobs measured; `converts`: this job makes the GGUF's plain copy first."""
    budget = budget or MemoryBudget.now()
    params = float(info.get("parameters") or 0) or REFERENCE_PARAMS
    vocab = int(info.get("vocab_size") or 32000)
    hidden, layers = int(info.get("n_embd") or 1024), int(info.get("layers") or 24)
    batch, length = options["batch_size"], min(options["max_length"], max(1, round(mean_tokens * 1.3)))
    qlora = options["method"] == "qlora"
    weights = params * (0.57 if qlora else 4.0)
    logits = batch * length * vocab * 4 * 3  # the logits, their float32 copy for the loss, and the gradient
    activations = batch * length * hidden * layers * 4 * 18
    memory = int(weights + logits + activations + TORCH_OVERHEAD)
    steps = options["max_steps"] or options["epochs"] * steps_per_epoch(n_examples, batch, options["grad_accum"])
    tokens_per_step = batch * options["grad_accum"] * mean_tokens
    cores = psutil.cpu_count(logical=False) or REFERENCE_CORES
    tps = REFERENCE_TPS * (REFERENCE_PARAMS / params) * (cores / REFERENCE_CORES) * (20 if on_gpu else 1)
    tps /= QLORA_CPU_SLOWDOWN if qlora and not on_gpu else 1
    startup, finish = default_startup_s(params), DEFAULT_FINISH_S
    conversion = default_conversion_s(params)
    if pace is not None:
        startup, finish, tps = pace.startup_s, pace.finish_s, pace.tokens_per_s or tps
        conversion = pace.conversion_s or conversion
    startup += conversion if converts else 0.0
    per_step = tokens_per_step / max(tps, 1e-6)
    # The measured start-up runs to the end of the first step, so the steps after it are what is left.
    seconds = startup + max(0, steps - (1 if pace is not None else 0)) * per_step + finish
    available = budget.vram_available if on_gpu and budget.vram_total else budget.ram_available
    return TrainingEstimate(memory, seconds, steps, tps, pace is not None, memory < available, budget,
                            startup, per_step, converts)
