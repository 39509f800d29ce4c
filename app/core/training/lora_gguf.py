"""PEFT LoRA adapter → GGUF LoRA adapter, so llama.cpp can apply it to the same GGUF base the user chats with.

The format is llama.cpp's own: metadata `general.type=adapter`, `adapter.type=lora`, `adapter.lora.alpha`, and the
base's `general.architecture`; for each adapted weight, `<gguf name>.lora_a` stored (rank, in) and `.lora_b`
stored (out, rank), exactly as PEFT keeps them. GGUF stores the q and k projections of Llama-style models with
their rows permuted for llama.cpp's RoPE layout (transformers undoes that when it loads a GGUF), so the q and k
`lora_b` rows get the same permutation here; without it the adapter only half works.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

PERMUTED_ARCHS = ("llama",)  # architectures whose q / k rows llama.cpp's converter permutes


class AdapterConversionError(ValueError):
    pass


def _rope_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _read_adapter(adapter_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    config_path, weights_path = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    if not (config_path.is_file() and weights_path.is_file()):
        raise AdapterConversionError(f"{adapter_dir} is not a PEFT adapter (adapter_config.json and "
                                     "adapter_model.safetensors are needed).")
    return json.loads(config_path.read_text(encoding="utf-8")), load_file(str(weights_path))


def convert_adapter(adapter_dir: Path, out_path: Path, *, architecture: str, n_layers: int, n_head: int,
                    n_head_kv: int, dtype: str = "f32") -> Path:
    """Write the GGUF adapter; `architecture` and the head counts are the GGUF base model's."""
    import gguf

    adapter_dir, out_path = Path(adapter_dir), Path(out_path)
    config, tensors = _read_adapter(adapter_dir)
    if config.get("use_dora"):
        raise AdapterConversionError("DoRA adapters cannot be converted for llama.cpp; train a plain LoRA.")
    alpha = float(config.get("lora_alpha") or 0)
    if config.get("use_rslora"):
        alpha *= float(config.get("r") or 1) ** 0.5  # llama.cpp scales by alpha / r; rsLoRA means alpha / sqrt(r)
    arch = next((a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == architecture), None)
    if arch is None:
        raise AdapterConversionError(f"llama.cpp has no architecture called {architecture!r}.")
    names = gguf.get_tensor_name_map(arch, n_layers)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        if ".lora_A." not in key and ".lora_B." not in key:
            raise AdapterConversionError(f"the adapter also changes {key}; only LoRA matrices can be converted.")
        key = key.replace(".default", "")
        base = key.replace("base_model.model.", "", 1).replace(".lora_A.weight", ".weight").replace(".lora_B.weight", ".weight")
        pairs.setdefault(base, {})["a" if ".lora_A." in key else "b"] = value.astype(np.float32)
    np_dtype = np.float16 if dtype == "f16" else np.float32
    writer = gguf.GGUFWriter(str(out_path), architecture)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    for base, ab in sorted(pairs.items()):
        if set(ab) != {"a", "b"}:
            raise AdapterConversionError(f"{base} has only one of its two LoRA matrices.")
        name = names.get_name(base, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise AdapterConversionError(f"llama.cpp has no tensor for {base}.")
        lora_a, lora_b = ab["a"], ab["b"]
        if architecture in PERMUTED_ARCHS:
            if base.endswith("q_proj.weight"):
                lora_b = _rope_permute(lora_b, n_head)
            elif base.endswith("k_proj.weight"):
                lora_b = _rope_permute(lora_b, n_head_kv)
        writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(lora_a, dtype=np_dtype))
        writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(lora_b, dtype=np_dtype))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path
