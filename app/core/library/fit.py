"""Will this model fit? Weights + KV cache + runtime buffers for a context size, against the memory free right now.

The llama.cpp terms follow what llama.cpp itself allocates (checked against its own log on the starter model):
the KV cache is 2 x layers x context x KV heads x head size at f16, and the compute buffer is the larger of the
logits for one micro-batch and the attention scores for one micro-batch, plus the feed-forward activations.
The transformers backend runs float32 on the CPU (half precision on a GPU), with a float32 cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil

from app.core.hardware.gpu import gpu_memory
from app.core.units import format_bytes

MiB = 1024 * 1024
LLAMA_UBATCH = 512  # llama.cpp's default micro-batch
LLAMA_FIXED_OVERHEAD = 40 * MiB  # context, vocabulary tables, allocator slack
TRANSFORMERS_FIXED_OVERHEAD = 300 * MiB  # torch's own allocations once a model runs
TIGHT_SHARE = 0.80  # above this share of what is free, other apps start to feel it


class Verdict:
    FITS = "fits"
    TIGHT = "tight"
    WONT_FIT = "won't fit"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class MemoryBudget:
    ram_available: int
    ram_total: int
    vram_available: int = 0
    vram_total: int = 0

    @classmethod
    def now(cls) -> MemoryBudget:
        vm = psutil.virtual_memory()
        vram_free, vram_total = gpu_memory()  # (0, 0) without an NVIDIA GPU
        return cls(vm.available, vm.total, vram_free, vram_total)


@dataclass(frozen=True)
class FitEstimate:
    weights: int
    kv_cache: int
    overhead: int
    n_ctx: int
    backend: str
    verdict: str
    budget: MemoryBudget
    on_gpu: int = 0  # bytes of the total placed in VRAM

    @property
    def total(self) -> int:
        return self.weights + self.kv_cache + self.overhead

    def explain(self) -> str:
        """The numbers behind the verdict, for a tooltip or `models list`."""
        size, budget = format_bytes, self.budget
        lines = [
            f"Estimate for {self.n_ctx:,} tokens of context on {self.backend}:",
            f"  weights {size(self.weights)} + KV cache {size(self.kv_cache)} + runtime {size(self.overhead)}"
            f" = {size(self.total)}",
            f"  RAM available now: {size(budget.ram_available)} of {size(budget.ram_total)}",
        ]
        if budget.vram_total:
            lines.append(f"  VRAM available: {size(budget.vram_available)} (model part on GPU {size(self.on_gpu)})")
        return "\n".join(lines)


def _int(info: dict[str, Any], key: str) -> int | None:
    value = info.get(key)
    return value if isinstance(value, int) and value > 0 else None


def estimate(
    info: dict[str, Any],
    n_ctx: int,
    *,
    backend: str = "llama.cpp",
    gpu_layers: int = 0,
    budget: MemoryBudget | None = None,
    kv_bytes_per_element: int | None = None,
) -> FitEstimate:
    budget = budget or MemoryBudget.now()
    layers, n_embd = _int(info, "layers"), _int(info, "n_embd")
    n_head, n_head_kv = _int(info, "n_head"), _int(info, "n_head_kv") or _int(info, "n_head")
    head_k = _int(info, "head_dim") or (n_embd // n_head if n_embd and n_head else None)
    head_v = _int(info, "head_dim_v") or head_k
    vocab, n_ff = _int(info, "vocab_size") or 32000, _int(info, "n_ff") or (4 * n_embd if n_embd else 0)
    weights = int(info.get("weights_bytes") or 0)
    if backend == "transformers":
        params = _int(info, "parameters")
        dtype_bytes = 2 if gpu_layers and budget.vram_total else 4
        weights = params * dtype_bytes if params else weights * 2
        kv_elem = kv_bytes_per_element or dtype_bytes
    else:
        kv_elem = kv_bytes_per_element or 2  # f16 cache, llama.cpp's default
    if not (layers and n_head_kv and head_k):
        return FitEstimate(weights, 0, 0, n_ctx, backend, Verdict.UNKNOWN, budget)
    kv = layers * n_ctx * n_head_kv * (head_k + head_v) * kv_elem
    if backend == "transformers":
        overhead = TRANSFORMERS_FIXED_OVERHEAD + vocab * 4 * 2
    else:
        ub = min(LLAMA_UBATCH, n_ctx)
        scores = ub * n_ctx * (n_head or n_head_kv) * 4
        logits = ub * vocab * 4
        activations = ub * ((n_embd or 0) + n_ff) * 16
        overhead = LLAMA_FIXED_OVERHEAD + max(scores, logits) + activations
    on_gpu = 0
    if gpu_layers and budget.vram_total and layers:
        share = min(1.0, gpu_layers / layers)
        on_gpu = int((weights + kv) * share)
    verdict = _verdict(weights + kv + overhead - on_gpu, on_gpu, budget)
    return FitEstimate(weights, kv, overhead, n_ctx, backend, verdict, budget, on_gpu)


def _verdict(ram_needed: int, vram_needed: int, budget: MemoryBudget) -> str:
    def grade(needed: int, available: int) -> str:
        if needed > available:
            return Verdict.WONT_FIT
        return Verdict.TIGHT if needed > available * TIGHT_SHARE else Verdict.FITS

    grades = [grade(ram_needed, budget.ram_available)]
    if vram_needed:
        grades.append(grade(vram_needed, budget.vram_available))
    for worst in (Verdict.WONT_FIT, Verdict.TIGHT):
        if worst in grades:
            return worst
    return Verdict.FITS


def memory_need(ref, n_ctx: int, backend: str, *, loading: bool, budget: MemoryBudget | None = None):
    """The monitor's low-memory check for one model: its whole estimate while loading, the unresident rest after."""
    from app.core.hardware.memory_alert import MemoryNeed, remaining_need
    from app.core.library.registry import measured_peak

    est = estimate(ref.info, min(n_ctx, ref.info.get("context_length") or n_ctx), backend=backend, budget=budget)
    if est.verdict == Verdict.UNKNOWN:
        return None
    need = est.total if loading else remaining_need(est.total, measured_peak(ref, est.n_ctx, backend))
    return MemoryNeed(ref.name, need, loading)
