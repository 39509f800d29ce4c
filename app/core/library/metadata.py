"""What a model is, read from its header only: GGUF metadata, or a Hugging Face folder's config and safetensors headers.

The summary is a plain dict stored in `model.info`, so listing the library never opens a model file twice.
No weights are read: a GGUF header walk and the JSON headers at the start of each .safetensors file.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from app.core.engine.gguf_check import GGUFInfo, inspect_gguf

# Bytes per element of safetensors dtypes, for the parameter count and the in-memory size.
_SAFETENSORS_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
_SAFETENSORS_HEADER_LIMIT = 100 * 1024 * 1024
_QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])(I?Q\d(?:_[A-Z0-9]+)*|F16|F32|BF16|TQ\d_\d)(?![A-Za-z0-9])", re.IGNORECASE
)


# Bumped when the summary gains fields; older summaries are re-read from the header on the next scan.
SUMMARY_VERSION = 3


class ModelFolderError(ValueError):
    """A folder is not a loadable Hugging Face model; the message says why."""


def quant_from_filename(name: str) -> str | None:
    """'qwen2.5-7b-instruct-q4_k_m.gguf' -> 'Q4_K_M'; None when the name does not say."""
    matches = _QUANT_IN_NAME.findall(Path(name).stem)
    return matches[-1].upper() if matches else None


def gguf_file_type_name(file_type: Any) -> str | None:
    """general.file_type (an enum number) -> 'Q4_1', 'Q8_0', 'F16', ..."""
    if not isinstance(file_type, int):
        return None
    try:
        from gguf import LlamaFileType

        return LlamaFileType(file_type).name.removeprefix("MOSTLY_").removeprefix("ALL_")
    except (ValueError, ImportError):
        return None


def is_split_shard(path: Path) -> bool:
    """Later parts of a split GGUF ('-00002-of-00004.gguf'); only the first part is listed as the model."""
    m = re.search(r"-(\d{5})-of-(\d{5})\.gguf$", path.name)
    return bool(m) and int(m.group(1)) > 1


def shape_from_gguf(info: GGUFInfo) -> dict[str, Any]:
    """What the fit estimate needs (and the library shows), from a GGUF header."""
    arch, meta = info.architecture, info.metadata

    def key(name: str) -> int | None:
        value = meta.get(f"{arch}.{name}")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    n_embd, n_head = key("embedding_length"), key("attention.head_count")
    head_dim = key("attention.key_length") or (n_embd // n_head if n_embd and n_head else None)
    tokens = meta.get("tokenizer.ggml.tokens")
    return {
        "v": SUMMARY_VERSION,
        "architecture": arch,
        "context_length": info.context_length,
        "layers": key("block_count"),
        "n_embd": n_embd,
        "n_ff": key("feed_forward_length"),
        "n_head": n_head,
        "n_head_kv": key("attention.head_count_kv") or n_head,
        "head_dim": head_dim,
        "head_dim_v": key("attention.value_length") or head_dim,
        "vocab_size": key("vocab_size") or (tokens.get("array_length") if isinstance(tokens, dict) else None),
        "chat_template": bool(info.chat_template),
        "file_type": meta.get("general.file_type"),
        "quant": gguf_file_type_name(meta.get("general.file_type")) or quant_from_filename(info.path.name),
        "size_label": meta.get("general.size_label"),
        "parameters": getattr(info, "parameter_count", None),
        "gguf_name": info.name,
        "weights_bytes": info.file_size,
    }


def summarise_gguf(path: Path) -> dict[str, Any]:
    return shape_from_gguf(inspect_gguf(path))


def shape_from_config(config: dict[str, Any]) -> dict[str, Any]:
    """The same shape from a Hugging Face config.json."""
    text = config.get("text_config") or config  # multimodal configs nest the language model
    n_embd, n_head = text.get("hidden_size"), text.get("num_attention_heads")
    head_dim = text.get("head_dim") or (n_embd // n_head if n_embd and n_head else None)
    archs = config.get("architectures") or [config.get("model_type", "unknown")]
    return {
        "v": SUMMARY_VERSION,
        "architecture": str(archs[0]),
        "model_type": config.get("model_type"),
        "context_length": text.get("max_position_embeddings"),
        "layers": text.get("num_hidden_layers"),
        "n_embd": n_embd,
        "n_ff": text.get("intermediate_size"),
        "n_head": n_head,
        "n_head_kv": text.get("num_key_value_heads") or n_head,
        "head_dim": head_dim,
        "head_dim_v": head_dim,
        "vocab_size": text.get("vocab_size"),
    }


def _safetensors_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ModelFolderError(f"{path.name} is too short to be a safetensors file. Re-download the model.")
        (length,) = struct.unpack("<Q", raw)
        if length > min(_SAFETENSORS_HEADER_LIMIT, path.stat().st_size):
            raise ModelFolderError(f"{path.name} has a damaged header. Re-download the model.")
        try:
            return json.loads(fh.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFolderError(f"{path.name} has a damaged header ({exc}). Re-download the model.") from exc


def is_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def summarise_hf_folder(path: Path) -> dict[str, Any]:
    """Summarise a Hugging Face model folder from config.json and the safetensors headers."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelFolderError(f"{path.name}: there is no config.json, so this is not a Hugging Face model folder.")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFolderError(f"{path.name}: config.json cannot be read ({exc}). Re-download the model.") from exc
    shards = sorted(path.glob("*.safetensors"))
    if not shards:
        has_pickles = any(path.glob("*.bin")) or any(path.glob("*.pt"))
        raise ModelFolderError(
            f"{path.name}: no .safetensors weights"
            + (" (only pickle .bin/.pt files, which Hearth does not load because they can run code)" if has_pickles else "")
            + ". Download the safetensors version of this model."
        )
    parameters, stored_bytes, dtypes = 0, 0, set()
    for shard in shards:
        for name, tensor in _safetensors_header(shard).items():
            if name == "__metadata__" or not isinstance(tensor, dict):
                continue
            count = 1
            for d in tensor.get("shape", []):
                count *= int(d)
            parameters += count
            stored_bytes += count * _SAFETENSORS_DTYPE_BYTES.get(tensor.get("dtype"), 2)
            dtypes.add(tensor.get("dtype"))
    tokenizer_config = path / "tokenizer_config.json"
    has_template = (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file()
    if not has_template and tokenizer_config.is_file():
        try:
            has_template = bool(json.loads(tokenizer_config.read_text(encoding="utf-8")).get("chat_template"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            has_template = False
    quant_config = config.get("quantization_config") or {}
    return {
        **shape_from_config(config),
        "chat_template": has_template,
        "quant": (quant_config.get("quant_method") or "").upper() or "/".join(sorted(d for d in dtypes if d)) or None,
        "parameters": parameters,
        "weights_bytes": stored_bytes,
        "shards": len(shards),
    }


def summarise(path: Path, fmt: str) -> dict[str, Any]:
    return summarise_gguf(path) if fmt == "gguf" else summarise_hf_folder(path)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def parameter_label(info: dict[str, Any]) -> str:
    """'135M', '7.2B'; from the parameter count when known, else the file's own size label."""
    n = info.get("parameters")
    if isinstance(n, int) and n > 0:
        return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"
    return str(info.get("size_label") or "?")
