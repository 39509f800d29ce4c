"""Before a job starts: roughly how much memory and time it will take on this machine, and whether it fits.

Memory: the base weights (float32 for LoRA, about 4.5 bits per weight for QLoRA), the logits of one batch (the
vocabulary is the largest activation for small models), the other activations, and torch's own overhead.
Time: from this base model's past jobs when there are any (measured tokens/s), else from a rate measured on
SmolLM2-135M on a 2-core CPU (~170 tokens/s), scaled by parameter count and cores. It is a guide, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil

from app.core.library.fit import MemoryBudget
from app.core.training.batches import steps_per_epoch
from app.core.units import format_bytes

MiB = 2**20
TORCH_OVERHEAD = 600 * MiB
REFERENCE_TPS, REFERENCE_PARAMS, REFERENCE_CORES = 170.0, 135e6, 2
QLORA_CPU_SLOWDOWN = 2.0


@dataclass(frozen=True)
class TrainingEstimate:
    memory: int
    seconds: float
    steps: int
    tokens_per_s: float
    measured: bool  # the speed comes from this model's past jobs
    fits: bool
    budget: MemoryBudget

    def explain(self) -> str:
        minutes = self.seconds / 60
        when = f"about {minutes:.0f} min" if minutes >= 1.5 else f"about {self.seconds:.0f} s"
        source = "from your earlier jobs on this model" if self.measured else "a rough guess until a first job runs"
        text = (f"{self.steps} steps, {when} at ~{self.tokens_per_s:.0f} tokens/s ({source}); "
                f"about {format_bytes(self.memory)} of memory, {format_bytes(self.budget.ram_available)} free now.")
        if not self.fits:
            text += " It will not fit: lower the batch size or the maximum length, or use QLoRA."
        return text


def estimate_job(info: dict, options: dict, n_examples: int, mean_tokens: float, *, past_tps: float | None = None,
                 budget: MemoryBudget | None = None, on_gpu: bool = False) -> TrainingEstimate:
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
    tokens = steps * batch * options["grad_accum"] * mean_tokens
    if past_tps:
        tps, measured = past_tps, True
    else:
        cores = psutil.cpu_count(logical=False) or REFERENCE_CORES
        tps = REFERENCE_TPS * (REFERENCE_PARAMS / params) * (cores / REFERENCE_CORES) * (20 if on_gpu else 1)
        tps /= QLORA_CPU_SLOWDOWN if qlora and not on_gpu else 1
        measured = False
    available = budget.vram_available if on_gpu and budget.vram_total else budget.ram_available
    return TrainingEstimate(memory, tokens / max(tps, 1e-6), steps, tps, measured, memory < available, budget)
