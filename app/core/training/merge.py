"""An adapter merged into its base model, for use outside Hearth: a GGUF (f16 or q8_0) for llama.cpp-based apps, or
a Hugging Face folder (safetensors) for transformers.

Only f16 and q8_0: a LoRA delta is far smaller than a 4-bit quantisation step, and re-quantising a merged model to
Q4 was measured to erase the fine-tune. Inside Hearth the adapter route (the base's own file + the GGUF adapter)
stays the way to chat.

The GGUF merge needs only numpy and the gguf package. It reads the base GGUF and the GGUF adapter Hearth wrote for
it (same tensor names, q / k rows already in llama.cpp's layout), adds alpha / rank · B·A to each adapted weight the
way llama.cpp applies the adapter, and writes one tensor at a time, so memory stays near one tensor's size.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.units import format_bytes

Progress = Callable[[int, int, str], None]  # done, total, what
GGUF_TYPES = ("f16", "q8_0")
HF_DTYPES = ("float16", "bfloat16", "float32")


class MergeError(ValueError):
    """A merge that cannot be done, with a message for a person."""


@dataclass(frozen=True)
class _Plan:
    name: str
    source: object  # the reader's tensor
    qtype: object  # GGMLQuantizationType written
    shape: tuple[int, ...]  # numpy order (rows, columns)
    nbytes: int
    lora: tuple[np.ndarray, np.ndarray] | None


def _target_type(tensor, out_type: str):
    from gguf import GGMLQuantizationType as Q

    float_types = {Q.F32, Q.F16, Q.BF16} | {q for q in Q if q.name.startswith(("Q", "IQ", "TQ", "MXFP"))}
    if tensor.tensor_type not in float_types:
        return tensor.tensor_type  # integer tensors are copied as they are
    if len(tensor.shape) < 2 or int(np.prod(tensor.shape)) == int(tensor.shape[0]):
        return Q.F32  # norms and biases stay float32, as llama.cpp's own converter keeps them
    if out_type == "q8_0" and int(tensor.shape[0]) % 32 == 0:
        return Q.Q8_0
    return Q.F16


def _lora_pairs(adapter_path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], float]:
    import gguf

    reader = gguf.GGUFReader(str(adapter_path))
    kind = reader.fields.get(gguf.Keys.General.TYPE)
    if kind is None or kind.contents() != "adapter":
        raise MergeError(f"{adapter_path.name} is not a GGUF LoRA adapter.")
    alpha_field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    alpha = float(alpha_field.contents()) if alpha_field is not None else 0.0
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        base, _, part = tensor.name.rpartition(".lora_")
        halves.setdefault(base, {})[part] = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    pairs = {}
    for name, ab in halves.items():
        if set(ab) != {"a", "b"}:
            raise MergeError(f"The adapter has only one of the two LoRA matrices for {name}.")
        pairs[name] = (ab["a"], ab["b"])
    return pairs, alpha


def merged_gguf_size(base_path: Path, out_type: str) -> int:
    """Bytes of tensor data the merged file will hold (for the disk-space check and the form)."""
    return merged_gguf_sizes(base_path, (out_type,))[out_type]


def merged_gguf_sizes(base_path: Path, out_types: tuple[str, ...] = GGUF_TYPES) -> dict[str, int]:
    """`merged_gguf_size` for several types from one read of the header (reading it takes seconds: the
    tokenizer's vocabulary is parsed with it)."""
    import gguf

    reader = gguf.GGUFReader(str(base_path))
    return {kind: sum(_nbytes(t, _target_type(t, kind)) for t in reader.tensors) for kind in out_types}


def _nbytes(tensor, qtype) -> int:
    import gguf

    shape = tuple(int(x) for x in reversed(tensor.shape))  # numpy order
    if qtype == tensor.tensor_type:
        return int(tensor.n_bytes)
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    return int(np.prod(shape[:-1])) * shape[-1] // block * type_size


def merge_gguf(base_path: Path, adapter_path: Path, out_path: Path, out_type: str = "f16", *,
               name: str | None = None, progress: Progress | None = None) -> Path:
    """Write `out_path`: the base GGUF with the GGUF adapter added in, weights in f16 or q8_0."""
    import gguf

    if out_type not in GGUF_TYPES:
        raise MergeError(f"Merged GGUF files are written as f16 or q8_0, not {out_type}: a fine-tune does not "
                         "survive 4-bit quantisation.")
    base_path, adapter_path, out_path = Path(base_path), Path(adapter_path), Path(out_path)
    for path, what in ((base_path, "base model"), (adapter_path, "GGUF adapter")):
        if not path.is_file():
            raise MergeError(f"The {what} is no longer at {path}.")
    pairs, alpha = _lora_pairs(adapter_path)
    reader = gguf.GGUFReader(str(base_path))
    plans = []
    for tensor in reader.tensors:
        qtype = _target_type(tensor, out_type)
        lora = pairs.pop(tensor.name, None)
        shape = tuple(int(x) for x in reversed(tensor.shape))
        if lora is not None and lora[1].shape[0] * lora[0].shape[1] != int(np.prod(shape)):
            raise MergeError(f"The adapter does not fit this model: {tensor.name} has shape {shape}, the adapter "
                             f"makes {lora[1].shape[0]}×{lora[0].shape[1]}. Was it trained on another base?")
        plans.append(_Plan(tensor.name, tensor, qtype, shape, _nbytes(tensor, qtype), lora))
    if pairs:
        raise MergeError(f"The adapter changes tensors this model does not have ({', '.join(sorted(pairs)[:3])}). "
                         "Was it trained on another base?")
    _check_space(out_path, sum(p.nbytes for p in plans))

    arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    partial = out_path.with_name(out_path.name + ".partial")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(partial), arch, endianess=reader.endianess)
    try:
        _copy_metadata(reader, writer, out_type, name)
        for plan in plans:
            if plan.qtype == plan.source.tensor_type and plan.lora is None:  # copied byte for byte
                writer.add_tensor_info(plan.name, plan.source.data.shape, plan.source.data.dtype, plan.nbytes,
                                       plan.source.tensor_type)
            else:  # the shape in elements (numpy order) and the type written
                writer.add_tensor_info(plan.name, plan.shape, np.float32, plan.nbytes, plan.qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, plan in enumerate(plans):
            writer.write_tensor_data(_merged_tensor(plan, alpha), tensor_endianess=reader.endianess)
            if progress:
                progress(i + 1, len(plans), plan.name)
        writer.close()
        partial.replace(out_path)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return out_path


def _merged_tensor(plan: _Plan, alpha: float) -> np.ndarray:
    import gguf

    Q = gguf.GGMLQuantizationType
    if plan.qtype == plan.source.tensor_type and plan.lora is None:
        return plan.source.data
    try:
        weights = gguf.quants.dequantize(plan.source.data, plan.source.tensor_type).astype(np.float32, copy=False)
    except NotImplementedError as exc:
        raise MergeError(f"{plan.name} is stored as {plan.source.tensor_type.name}, which Hearth cannot unpack yet. "
                         "Export a Hugging Face folder instead.") from exc
    weights = weights.reshape(plan.shape)
    if plan.lora is not None:
        lora_a, lora_b = plan.lora  # (rank, in), (out, rank)
        rank = lora_a.shape[0]
        weights = weights + (alpha / rank if alpha else 1.0) * (lora_b.astype(np.float32) @ lora_a.astype(np.float32))
    if plan.qtype == Q.F32:
        return np.ascontiguousarray(weights, dtype=np.float32)
    if plan.qtype == Q.F16:
        return np.ascontiguousarray(np.clip(weights, -65504, 65504).astype(np.float16))
    return gguf.quants.quantize(np.ascontiguousarray(weights), plan.qtype)


def _copy_metadata(reader, writer, out_type: str, name: str | None) -> None:
    import gguf

    file_type = gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.MOSTLY_Q8_0
    replaced = {gguf.Keys.General.FILE_TYPE: (int(file_type), gguf.GGUFValueType.UINT32)}
    if name:
        replaced[gguf.Keys.General.NAME] = (name, gguf.GGUFValueType.STRING)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by the writer itself
        if field.name in replaced:
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    for key, (value, kind) in replaced.items():
        writer.add_key_value(key, value, kind)


def _check_space(out_path: Path, needed: int) -> None:
    folder = out_path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise MergeError(f"Not enough disk space for the merged model: it needs {format_bytes(needed)} and "
                         f"{format_bytes(free)} is free on {folder}. Free some space or pick another folder.")


def merge_hf(base_folder: Path, peft_dir: Path, out_dir: Path, dtype: str = "float16", *,
             progress: Progress | None = None) -> Path:
    """Write `out_dir`: a Hugging Face folder (safetensors) with the PEFT adapter merged in. Imports torch, so it
    runs in a child process (`hearth adapters export`), never in the window's process."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if dtype not in HF_DTYPES:
        raise MergeError(f"Pick one of {', '.join(HF_DTYPES)} for a merged folder, not {dtype}.")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise MergeError(f"{out_dir} already exists and is not empty. Pick a new folder.")
    step = progress or (lambda *_: None)
    step(0, 4, "Loading the base model")
    model = AutoModelForCausalLM.from_pretrained(base_folder, dtype=torch.float32)
    step(1, 4, "Adding the adapter")
    model = PeftModel.from_pretrained(model, str(peft_dir)).merge_and_unload()
    model = model.to(getattr(torch, dtype))
    params = sum(p.numel() for p in model.parameters())
    _check_space(out_dir / "model.safetensors", params * model.dtype.itemsize)
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    step(2, 4, "Writing safetensors")
    try:
        model.save_pretrained(partial, safe_serialization=True)
        AutoTokenizer.from_pretrained(base_folder).save_pretrained(partial)
        step(3, 4, "Finishing")
        if out_dir.exists():
            out_dir.rmdir()  # empty, checked above
        partial.rename(out_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    step(4, 4, "Done")
    return out_dir
