"""Loading the base model for training, in the child process only (torch, transformers, peft, bitsandbytes).

A GGUF base is loaded through transformers (`gguf_file=`, dequantised to float32). transformers will neither train
nor save a GGUF-loaded model, so the first time a GGUF is trained it is saved once as a plain safetensors folder
in the cache (identical weights) and every job loads that copy: faster than dequantising again, and trainable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def _cache_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]


def plain_copy_folder(gguf_path: Path, cache_dir: Path) -> Path:
    return Path(cache_dir) / "bases" / f"{gguf_path.stem}-{_cache_key(gguf_path)}"


def has_plain_copy(gguf_path: Path, cache_dir: Path) -> bool:
    """Whether the GGUF's plain copy is made already (the first job on a GGUF spends its start-up making it)."""
    target = plain_copy_folder(gguf_path, cache_dir)
    return (target / "config.json").is_file() and (target / "model.safetensors").is_file()


PREPARING = "Preparing {name} for training (once per model file)…"  # the log line the estimate recognises


def plain_copy(gguf_path: Path, cache_dir: Path, log_line=lambda _m: None) -> Path:
    """A safetensors folder with the GGUF's weights, made once per file (keyed by path, size and mtime)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = plain_copy_folder(gguf_path, cache_dir)
    if has_plain_copy(gguf_path, cache_dir):
        return target
    log_line(PREPARING.format(name=gguf_path.name))
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # transformers marks a GGUF-loaded model as quantised and then refuses to train or save it; the weights are
    # plain float32 by now, so the mark is removed (logits are identical before and after the round trip).
    model.hf_quantizer.remove_quantization_config(model)
    model.save_pretrained(partial, safe_serialization=True)
    tokenizer.save_pretrained(partial)
    (partial / "hearth-source.json").write_text(json.dumps({"gguf": str(gguf_path)}), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def load_for_training(folder: Path, method: str, device: str, precision: str = "fp32"):
    """The base model, ready for adapters: float32 on the CPU (bfloat16 for mixed precision, see precision.py),
    bfloat16 on a GPU, or 4-bit NF4 for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM

    if method == "qlora":
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if device == "cuda" else torch.float32
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute,
                                   bnb_4bit_use_double_quant=True)
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, dtype=compute,
                                                     device_map={"": device})
        from peft import prepare_model_for_kbit_training

        # No generation may run on this model before training starts: on the CPU, bitsandbytes then repacks the
        # 4-bit weights and the backward pass silently stops reaching the adapters (the loss stays flat).
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if device != "cpu":
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16).to(device)
    if precision == "bf16":  # frozen weights stored as they are multiplied: half the memory, no cast per step
        from app.core.training.precision import register_attention

        try:
            return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16,
                                                        attn_implementation=register_attention())
        except (ValueError, NotImplementedError, ImportError):  # an architecture (or a transformers) without it
            return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)


def add_adapter(model, options: dict):
    from peft import LoraConfig, get_peft_model

    targets = ALL_LINEAR if options["target_modules"] == "all-linear" else ATTENTION
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in targets if t in present] or "all-linear"  # architectures with other names
    config = LoraConfig(r=options["lora_rank"], lora_alpha=options["lora_alpha"], lora_dropout=options["lora_dropout"],
                        target_modules=targets, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def qlora_support() -> tuple[bool, str]:
    """Can this machine run QLoRA, and why (not)? For the job form; imports bitsandbytes, so child-side or lazy."""
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means no 4-bit here
        return False, f"bitsandbytes is not usable here ({exc}); plain LoRA will run."
    import torch

    if torch.cuda.is_available():
        return True, f"QLoRA runs on {torch.cuda.get_device_name(0)}."
    return True, ("QLoRA runs on this CPU, but slower than LoRA and with little memory saved; "
                  "it pays off on an NVIDIA GPU.")
