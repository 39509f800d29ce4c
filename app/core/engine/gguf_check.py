"""Checks a GGUF file before llama.cpp opens it, so a broken file is a clear message instead of a crash.

The header is walked with every count and length checked against the bytes that remain, so a truncated or
hostile file cannot make us allocate or loop without bound. The `gguf` package supplies the format's constants
(tensor types and their sizes). Its own GGUFReader is correct but takes about two seconds on a 49k-token
vocabulary, too slow for a model list, so we decode the header ourselves.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
# struct formats of GGUF scalar value types by type id (uint8 .. float64, bool); 8 = string, 9 = array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_SCALAR_SIZES = {k: struct.calcsize("<" + v) for k, v in _SCALARS.items()}
_STRING, _ARRAY = 8, 9
# Arrays longer than this (token lists) are summarised by length instead of kept in the metadata dict.
_KEEP_ARRAY_ITEMS = 64


class GGUFError(ValueError):
    """The file is not a usable GGUF model; the message says why and what to do."""


@dataclass
class GGUFInfo:
    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    file_size: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def chat_template(self) -> str | None:
        return self.metadata.get("tokenizer.chat_template")

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if value is not None else None

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)


def _fail(path: Path, reason: str, advice: str = "Re-download it or pick another file.") -> GGUFError:
    return GGUFError(f"{path.name}: {reason}. {advice}")


class _Walker:
    """Reads the header with every length checked against the bytes that remain."""

    def __init__(self, path: Path, data: bytes, file_size: int):
        self.path, self.data, self.size, self.pos = path, data, file_size, 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _fail(self.path, f"the file ends inside its header (while reading {what}); it is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def string(self, what: str) -> bytes:
        length = self.u64(what)
        if length > len(self.data) - self.pos:
            raise _fail(self.path, f"a text field ({what}) claims {length} bytes, more than the file holds: it is truncated or damaged")
        return self.take(length, what)

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return struct.unpack("<" + _SCALARS[vtype], self.take(_SCALAR_SIZES[vtype], what))[0]
        if vtype == _STRING:
            return self.string(what).decode("utf-8", "replace")
        if vtype == _ARRAY and depth < 2:
            itype, count = self.u32(what), self.u64(what)
            smallest = _SCALAR_SIZES.get(itype, 8)
            if count * smallest > len(self.data) - self.pos:
                raise _fail(self.path, f"the list '{what}' claims {count} items, more than the file holds: it is truncated or damaged")
            if itype in _SCALARS:
                raw = self.take(count * _SCALAR_SIZES[itype], what)
                if count > _KEEP_ARRAY_ITEMS:
                    return {"array_length": count}
                return list(struct.unpack(f"<{count}{_SCALARS[itype]}", raw))
            items = [self.value(itype, what, depth + 1) for _ in range(count)]
            return items if count <= _KEEP_ARRAY_ITEMS else {"array_length": count}
        raise _fail(self.path, f"the metadata entry '{what}' has an unknown value type ({vtype})")


def _walk_header(path: Path, data: bytes, file_size: int) -> GGUFInfo:
    w = _Walker(path, data, file_size)
    if w.take(4, "magic") != GGUF_MAGIC:
        raise _fail(path, "this file is not a GGUF model (bad magic bytes)", "Pick a .gguf model file.")
    version = w.u32("version")
    if version not in SUPPORTED_VERSIONS:
        raise _fail(
            path,
            f"GGUF version {version} is not supported (Hearth reads versions 2 and 3)",
            "Download a current GGUF conversion of this model.",
        )
    tensor_count, kv_count = w.u64("tensor count"), w.u64("metadata count")
    # Each entry takes well over one byte, so counts beyond the file size are nonsense, not truncation.
    if kv_count > file_size or tensor_count > file_size:
        raise _fail(path, f"the header claims {kv_count} metadata entries and {tensor_count} tensors, which cannot be right")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = w.string("metadata key").decode("utf-8", "replace")
        metadata[key] = w.value(w.u32(key), key)
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise _fail(path, f"its data alignment ({alignment}) is not a power of two")
    data_end = 0
    infos = []
    for _ in range(tensor_count):
        name = w.string("tensor name").decode("utf-8", "replace")
        n_dims = w.u32(name)
        if n_dims > 8:
            raise _fail(path, f"tensor '{name}' claims {n_dims} dimensions")
        dims = [w.u64(name) for _ in range(n_dims)]
        ggml_type, offset = w.u32(name), w.u64(name)
        infos.append((name, dims, ggml_type, offset))
    data_start = w.pos + (-w.pos % alignment)
    if tensor_count == 0:
        raise _fail(path, "the file has no tensors: it is a vocabulary or adapter, not a model", "Pick a model file.")
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    for name, dims, ggml_type, offset in infos:
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise _fail(path, f"tensor '{name}' has an unknown data type ({ggml_type})", "Update Hearth or pick another file.") from None
        elements = 1
        for d in dims:
            elements *= d
        data_end = max(data_end, data_start + offset + elements * type_size // block)
    if data_end > file_size:
        raise _fail(
            path,
            f"the file is truncated: its tensors need {data_end:,} bytes but it has {file_size:,}; "
            "the download probably did not finish",
        )
    return GGUFInfo(path=path, version=version, tensor_count=tensor_count, metadata=metadata, file_size=file_size)


def inspect_gguf(path: str | Path, header_bytes: int = 64 * 1024 * 1024) -> GGUFInfo:
    """Validate a GGUF file and return its metadata; raise GGUFError with a readable reason if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise GGUFError(f"{path}: the file does not exist. It may have been moved or deleted.")
    if path.is_dir():
        raise GGUFError(f"{path.name}: this is a folder, not a GGUF file. Pick a .gguf file.")
    try:
        file_size = path.stat().st_size
        with path.open("rb") as fh:
            data = fh.read(min(file_size, header_bytes))
    except OSError as exc:
        raise GGUFError(f"{path.name}: the file cannot be read ({exc.strerror}). Check its permissions.") from exc
    if file_size < 24:
        raise _fail(path, f"the file is only {file_size} bytes long, too short to be a model")
    try:
        return _walk_header(path, data, file_size)
    except GGUFError:
        raise
    except Exception as exc:  # anything else in a hostile header means the same to the user
        raise _fail(path, f"its header could not be read ({exc.__class__.__name__}: {exc})") from exc
