"""Every training option, declared once (type, default, range, help); the job form and the job file come from it.

Defaults suit a small model on a laptop CPU: measured on SmolLM2-135M, fp32 LoRA on all linear layers learned a
new persona in about 30 steps, while attention-only (q, v) did not.
"""

from __future__ import annotations

from typing import Any

from app.core.options import Option, resolve

METHODS = (("lora", "LoRA (full-precision base)"), ("qlora", "QLoRA (4-bit NF4 base, bitsandbytes)"))
TARGETS = (("all-linear", "All linear layers"), ("attention", "Attention only (q, k, v, o)"))
SCHEDULES = (("cosine", "Cosine"), ("linear", "Linear"), ("constant", "Constant"))
OBJECTIVES = (("auto", "Imitate good replies, and learn preferences when there are any"),
              ("sft", "Imitate good replies only"))
PRECISIONS = (("auto", "Automatic: bfloat16 where this CPU is faster at it"), ("fp32", "float32"),
              ("bf16", "bfloat16 mixed precision"))
OVERFLOW = (("cut", "Cut to the maximum length"), ("drop", "Leave the example out"))

TRAINING_OPTIONS: tuple[Option, ...] = (
    Option("objective", "Learn from", str, "auto", "Thumbs-up replies and corrections are imitated. With preferences "
           "on, a corrected or thumbs-down reply is also made less likely than the reply preferred to it (DPO on "
           "pairs) and a lone thumbs-down less likely than the base model found it (KTO).", choices=OBJECTIVES),
    Option("preference_beta", "Preference strength (beta)", float, 0.1, "How far the adapter may move from the "
           "base model to honour a preference. Higher keeps it closer to the base.", 0.01, 2.0, 0.05, decimals=2),
    Option("fit_to_data", "Choose steps and learning rate from the data", bool, True, "Steps, learning rate and "
           "evaluation cadence follow the dataset's size and the model's size. Turn off to set them yourself."),
    Option("method", "Method", str, "lora", "LoRA trains small adapter matrices beside the full-precision model. "
           "QLoRA keeps the base in 4-bit NF4 to save memory; it needs bitsandbytes and is fastest on an NVIDIA GPU.",
           choices=METHODS),
    Option("precision", "Precision (CPU)", str, "auto", "On CPUs that compute in bfloat16 natively (recent Intel "
           "and AMD with AVX-512 BF16 or AMX, Arm with BF16), the base model's products run in bfloat16 while the "
           "adapter stays in float32: about 1.6x faster on the starter model. Automatic measures this CPU at the "
           "start; a GPU always trains in bfloat16.", choices=PRECISIONS),
    Option("lora_rank", "LoRA rank", int, 16, "Size of the adapter matrices. Higher learns more and uses more memory.",
           1, 256, 4),
    Option("lora_alpha", "LoRA alpha", int, 32, "Scale of the adapter's effect (effective scale = alpha / rank).",
           1, 512, 4),
    Option("lora_dropout", "LoRA dropout", float, 0.05, "Dropout on the adapter input; a little helps small datasets.",
           0.0, 0.5, 0.05),
    Option("target_modules", "Layers to adapt", str, "all-linear", "All linear layers learn styles and personas "
           "much faster than attention alone.", choices=TARGETS),
    Option("learning_rate", "Learning rate", float, 2e-4, "Step size. 1e-4 to 3e-4 suits LoRA.", 1e-6, 1e-2, 5e-5,
           decimals=6),
    Option("lr_schedule", "Schedule", str, "cosine", "How the learning rate falls after a short warm-up.",
           choices=SCHEDULES),
    Option("epochs", "Epochs", int, 3, "Passes over the training examples (ignored when max steps is set).", 1, 100, 1),
    Option("max_steps", "Max steps", int, 0, "Stop after this many optimiser steps; 0 means use epochs.", 0, 100000, 10),
    Option("batch_size", "Batch size", int, 4, "Examples per step before accumulation.", 1, 256, 1),
    Option("grad_accum", "Gradient accumulation", int, 1, "Steps whose gradients add up before one update "
           "(effective batch = batch size x accumulation).", 1, 128, 1),
    Option("max_length", "Max length (tokens)", int, 512, "Longest example, in tokens of the base model.",
           32, 32768, 64),
    Option("overflow", "Longer examples", str, "cut", "What happens to examples over the maximum length.",
           choices=OVERFLOW),
    Option("group_by_length", "Group by length", bool, True, "Batch examples of similar length together so little "
           "compute goes to padding."),
    Option("packing", "Packing", bool, False, "Lay each batch's examples end to end in rows of the maximum length, "
           "each attending only to itself: no padding at all, the same losses. After grouping by length little "
           "padding is left, and on a CPU packing measured slower (170 against 254 tokens/s on the starter model)."),
    Option("seed", "Seed", int, 42, "Fixes the data order, the train / eval split and the adapter's start.", 0, 2**31 - 1),
    Option("eval_every", "Evaluate every (steps)", int, 20, "Held-out loss every N steps (0: only at start and end).",
           0, 100000, 5),
    Option("checkpoint_every", "Checkpoint every (steps)", int, 50, "Save a resumable checkpoint every N steps "
           "(0: only at the end).", 0, 100000, 10),
)


def job_options(stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job's options from the form or a job file; a value an option refuses raises ValueError, naming it."""
    return resolve(TRAINING_OPTIONS, stored, strict=True)
