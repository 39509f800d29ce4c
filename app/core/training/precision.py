"""The number format a CPU job trains in: float32, or bfloat16 mixed precision where this CPU is faster at it.

Mixed precision keeps the adapter's weights, its gradients and the optimiser in float32 (so small updates are not
lost) and runs the frozen base model's matrix products in bfloat16. On CPUs that compute bfloat16 natively (AVX-512
BF16, AMX, Arm BF16) those products run several times faster; elsewhere bfloat16 is emulated and slower, so "auto"
measures this CPU before choosing rather than trusting a feature list.

Measured on the starter model (2 cores with AVX-512 BF16): a LoRA step of 8 x 160 tokens took 3.0 s in float32 and
1.6 s in mixed precision; on the persona set, eight steps gave the same losses to within 3 % (last step 0.0185
against 0.0181). The attention itself stays in float32: PyTorch's bfloat16 attention backward on the CPU measured
2.7x slower than its float32 one.
"""

from __future__ import annotations

import contextlib
import time

FP32, BF16 = "fp32", "bf16"
ATTENTION = "hearth_sdpa_fp32"
PAYS_FROM = 1.4  # bfloat16 products must be at least this much faster than float32 ones to be worth it


def bf16_speedup(repeats: int = 6) -> float:
    """How much faster this CPU multiplies bfloat16 matrices than float32 ones, at a small model's layer sizes.
    Takes about a tenth of a second; the best of several runs, so a busy moment does not decide."""
    import torch

    a32, b32 = torch.randn(512, 576), torch.randn(576, 1536)
    a16, b16 = a32.bfloat16(), b32.bfloat16()
    best = {FP32: float("inf"), BF16: float("inf")}
    for _ in range(repeats):
        for kind, (a, b) in ((FP32, (a32, b32)), (BF16, (a16, b16))):
            started = time.perf_counter()
            for _ in range(4):
                torch.mm(a, b)
            best[kind] = min(best[kind], time.perf_counter() - started)
    return best[FP32] / best[BF16]


def choose(requested: str, device: str, method: str) -> tuple[str, str]:
    """The precision a job trains in, and a line saying why. Only plain LoRA on a CPU has a choice: a GPU trains in
    bfloat16 already, and QLoRA's 4-bit layers set their own compute type."""
    if device != "cpu" or method != "lora":
        return FP32 if device == "cpu" else BF16, ""
    if requested in (FP32, BF16):
        return requested, ""
    speedup = bf16_speedup()
    if speedup >= PAYS_FROM:
        return BF16, (f"This CPU multiplies in bfloat16 {speedup:.1f}x faster than in float32: training in mixed "
                      "precision (the adapter stays in float32).")
    return FP32, f"Training in float32 (bfloat16 is not faster on this CPU: {speedup:.1f}x)."


def _attention_in_fp32(module, query, key, value, attention_mask, **kwargs):
    """transformers' SDPA attention, computed in float32 whatever the layers around it use."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if attention_mask is not None and attention_mask.is_floating_point():
        attention_mask = attention_mask.float()
    with torch.autocast("cpu", enabled=False):
        out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask,
                                              **kwargs)
    return out.to(query.dtype), weights


def register_attention() -> str:
    """The attention above, under a name of its own, with SDPA's masks: without a mask function of its own,
    transformers would build no mask for it at all (no padding mask, no packed-sequence mask)."""
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(ATTENTION, _attention_in_fp32)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    return ATTENTION


def _in_fp32(_module, _inputs, output):
    return output.float()


def prepare_adapter(model, precision: str) -> None:
    """Two things about the adapter's layers in mixed precision:
    - each frozen layer's output is handed on in float32, so the adapter's small change is added to it in float32.
      Added in bfloat16 (8 bits of mantissa), a fresh adapter's change, about 1 % of the layer's output, mostly
      rounds away: measured on the persona set, the loss after the first step was 2.62 against float32's 2.27, and
      with this 2.27;
    - they take the base's bfloat16 activations as they are (autocast runs their products in bfloat16): peft would
      otherwise copy every activation to float32 and autocast straight back, which measured 12 % of a step."""
    if precision != BF16:
        return
    for module in model.modules():
        if hasattr(module, "lora_A") and hasattr(module, "base_layer"):
            module.cast_input_dtype_enabled = False
            module.base_layer.register_forward_hook(_in_fp32)


def autocast(device: str, precision: str):
    """The context every forward pass of a mixed-precision job runs in (the adapter layers need it, see above)."""
    import torch

    if device == "cpu" and precision == BF16:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
