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
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
# struct formats of GGUF scalar value types by type id (uint8 .. float64, bool); 8 = string, 9 = array.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_SCALAR_SIZES = {k: struct.calcsize("<" + v) for k, v in _SCALARS.items()}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")
# Arrays longer than this (token lists) are summarised by length instead of kept in the metadata dict.
_KEEP_ARRAY_ITEMS = 64
# Texts longer than this (never a real template or name) are summarised by length and not read.
_KEEP_TEXT_BYTES = 1024 * 1024
# The header is read this much at a time.
_CHUNK = 256 * 1024
# The GGUF format's own limits on a metadata key and (as llama.cpp enforces it) a tensor name.
_MAX_KEY_BYTES = 65_535
_MAX_NAME_BYTES = 63
# Metadata entries are kept in a dict, so their count has a ceiling, far above any real model's few dozen.
_MAX_KV_COUNT = 65_536
# Vocabulary entries checked for repeats: all of any real vocabulary (the largest have about 262k), in bounded memory.
_MAX_CHECKED_TOKENS = 524_288
# llama.cpp limits it enforces with an assert that kills the whole process, so they are checked here first:
# at most LLAMA_MAX_LAYERS blocks, and mmapped tensor data must start on a TENSOR_ALIGNMENT boundary.
_MAX_LAYERS = 512
_TENSOR_ALIGNMENT = 32
# File-supplied names in messages are cut to this and stripped of control characters.
_SHOWN_CHARS = 60


class GGUFError(ValueError):
    """The file is not a usable GGUF model; the message says why and what to do."""


@dataclass
class GGUFInfo:
    path: Path
    version: int
    tensor_count: int
    metadata: dict[str, Any] = field(default_factory=dict)
    file_size: int = 0
    parameter_count: int = 0  # elements over all tensors, from the tensor table

    # A damaged file can store any type under any key, so each property returns only a value of its own type.
    @property
    def architecture(self) -> str:
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) and value else "unknown"

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    @property
    def name(self) -> str:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) and value else self.path.stem


def _fail(path: Path, reason: str, advice: str = "Re-download it or pick another file.") -> GGUFError:
    return GGUFError(f"{path.name}: {reason}. {advice}")


def _shown(text: str) -> str:
    """A name read from the file, made safe to put in a message: short and printable."""
    if len(text) <= _SHOWN_CHARS and text.isprintable():
        return text
    cut = "".join(c if c.isprintable() else "?" for c in text[:_SHOWN_CHARS])
    return cut + "…" if len(text) > _SHOWN_CHARS else cut


class _Walker:
    """Reads the header with every length checked against the bytes that remain.

    Only a window of the file is held (the item being read and the chunk after it), and long texts and lists are
    stepped over rather than read, so a damaged length that points deep into the tensor data costs no memory.
    """

    def __init__(self, path: Path, fh: BinaryIO, file_size: int, limit: int):
        """`fh` holds the file's first `limit` bytes (all of it, or a bounded head); the file has `file_size`."""
        self.path, self.fh, self.size, self.limit = path, fh, file_size, limit
        self.data = b""  # the bytes of the file from offset `base`
        self.base = self.pos = 0

    def remaining(self) -> int:
        return self.size - self.pos

    def _truncated(self, what: str, end: int) -> GGUFError:
        if end <= self.size:  # the file has these bytes; we only read up to `limit`
            return _fail(self.path, f"its header is larger than the {self.limit:,} bytes Hearth reads (while reading {what})")
        return _fail(self.path, f"the file ends inside its header (while reading {what}); it is truncated")

    def _fill(self, end: int, what: str) -> None:
        """Make sure the bytes from `pos` to `end` are in the window, reading more of the file if needed."""
        if end > self.limit:
            raise self._truncated(what, end)
        have = self.base + len(self.data)
        if end <= have:
            return
        if self.pos >= have:  # everything held is behind us; a skip may have jumped past it
            keep, start = b"", self.pos
            self.fh.seek(start)
        else:
            keep, start = self.data[self.pos - self.base :], have
        more = self.fh.read(min(max(end - start, _CHUNK), self.limit - start))
        self.data, self.base = keep + more, self.pos
        if end > self.base + len(self.data):  # the file shrank while we read it
            raise self._truncated(what, self.size + 1)

    def take(self, n: int, what: str) -> bytes:
        if n < 0:
            raise self._truncated(what, self.size + 1)
        self._fill(self.pos + n, what)
        chunk = self.data[self.pos - self.base : self.pos - self.base + n]
        self.pos += n
        return chunk

    def skip(self, n: int, what: str) -> None:
        if not 0 <= n <= self.limit - self.pos:
            raise self._truncated(what, self.pos + n)
        self.pos += n

    def skip_strings(self, count: int, what: str, unique: bool = False) -> None:
        """Step over a long list of strings without decoding it; this loop is the hot path.

        With `unique`, also refuse a repeated string: llama.cpp aborts the process on a vocabulary with a repeat.
        """
        seen: set[bytes] = set()
        pos, base, data, unpack = self.pos, self.base, self.data, _U64.unpack_from
        for i in range(count):
            if pos + 8 > base + len(data):
                self.pos = pos
                self._fill(pos + 8, what)
                base, data = self.base, self.data
            start = pos + 8
            pos = start + unpack(data, pos - base)[0]
            if pos > self.size:
                raise _fail(self.path, f"a text in the list '{what}' runs past the end of the file: it is truncated or damaged")
            if pos > self.limit:
                raise self._truncated(what, pos)
            if unique and i < _MAX_CHECKED_TOKENS:
                if pos > base + len(data):
                    self.pos = start
                    self._fill(pos, what)
                    base, data = self.base, self.data
                token = data[start - base : pos - base]
                if token in seen:
                    shown = _shown(token.decode("utf-8", "replace"))
                    raise _fail(self.path, f"its vocabulary ('{what}') lists the token '{shown}' twice: it is damaged")
                seen.add(token)
        self.pos = pos

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack("<Q", self.take(8, what))[0]

    def length(self, what: str, most: int | None = None) -> int:
        """A text's length: within what the file holds and, for keys and tensor names, within the format's limit."""
        length = self.u64(what)
        if most is not None and length > most:
            raise _fail(self.path, f"a {what} claims {length:,} bytes where at most {most:,} are allowed: the header is damaged")
        if length > self.remaining():
            raise _fail(self.path, f"a text field ({what}) claims {length:,} bytes, more than the file holds: it is truncated or damaged")
        return length

    def string(self, what: str, most: int | None = None) -> str:
        return self.take(self.length(what, most), what).decode("utf-8", "replace")

    def value(self, vtype: int, what: str, unique: bool = False) -> Any:
        """One metadata value. With `unique` (the vocabulary), a list of strings is checked for repeats and summarised."""
        if vtype in _SCALARS:
            return struct.unpack("<" + _SCALARS[vtype], self.take(_SCALAR_SIZES[vtype], what))[0]
        if vtype == _STRING:
            length = self.length(what)
            if length > _KEEP_TEXT_BYTES:
                self.skip(length, what)
                return {"text_length": length}
            return self.take(length, what).decode("utf-8", "replace")
        if vtype != _ARRAY:
            raise _fail(self.path, f"the metadata entry '{what}' has an unknown value type ({vtype})")
        itype, count = self.u32(what), self.u64(what)
        if itype == _ARRAY:  # llama.cpp refuses the whole file, and walking them item by item is slow
            raise _fail(self.path, f"the metadata entry '{what}' is a list of lists, which llama.cpp cannot read")
        if itype not in _SCALARS and itype != _STRING:
            raise _fail(self.path, f"the list '{what}' has items of an unknown value type ({itype})")
        if count * _SCALAR_SIZES.get(itype, 8) > self.remaining():
            raise _fail(self.path, f"the list '{what}' claims {count:,} items, more than the file holds: it is truncated or damaged")
        if itype == _STRING and unique:
            self.skip_strings(count, what, unique=True)
            return {"array_length": count}
        if count > _KEEP_ARRAY_ITEMS:
            if itype == _STRING:
                self.skip_strings(count, what)
            else:
                self.skip(count * _SCALAR_SIZES[itype], what)
            return {"array_length": count}
        if itype == _STRING:
            return [self.value(itype, what) for _ in range(count)]
        return list(struct.unpack(f"<{count}{_SCALARS[itype]}", self.take(count * _SCALAR_SIZES[itype], what)))


def _walk_header(w: _Walker) -> GGUFInfo:
    path, file_size = w.path, w.size
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
    # Each tensor takes well over one byte, so a count beyond the file size is nonsense, not truncation.
    if kv_count > _MAX_KV_COUNT or tensor_count > file_size:
        raise _fail(path, f"the header claims {kv_count:,} metadata entries and {tensor_count:,} tensors, which cannot be right")
    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = w.string("metadata key", _MAX_KEY_BYTES)
        metadata[key] = w.value(w.u32(_shown(key)), _shown(key), unique=key == "tokenizer.ggml.tokens")
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise _fail(path, f"its data alignment ({_shown(repr(alignment))}) is not a power of two")
    arch = metadata.get("general.architecture")
    blocks = metadata.get(f"{arch}.block_count")
    if isinstance(blocks, int) and not 0 < blocks <= _MAX_LAYERS:
        raise _fail(path, f"it claims {blocks:,} layers; llama.cpp accepts 1 to {_MAX_LAYERS}")
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    # Tensor infos are checked as they are read and not kept, so a hostile table costs no memory. As in llama.cpp,
    # each tensor's data must start where the previous one's (padded) ends: a damaged count that runs the table
    # into zero-filled data stops at the first bogus entry instead of walking millions of them.
    expected_offset = data_needed = parameters = 0  # offsets relative to the start of the data section
    for _ in range(tensor_count):
        name = _shown(w.string("tensor name", _MAX_NAME_BYTES))
        n_dims = w.u32(name)
        if n_dims > 8:
            raise _fail(path, f"tensor '{name}' claims {n_dims:,} dimensions")
        dims = [w.u64(name) for _ in range(n_dims)]
        ggml_type, offset = w.u32(name), w.u64(name)
        try:
            block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        except (ValueError, KeyError):
            raise _fail(path, f"tensor '{name}' has an unknown data type ({ggml_type})", "Update Hearth or pick another file.") from None
        elements = 1
        for d in dims:
            elements *= d
        if elements >= 2**63 or (dims and dims[0] % block):  # llama.cpp counts in int64 and whole blocks per row
            raise _fail(path, f"tensor '{name}' claims an impossible shape {dims}")
        if offset != expected_offset:
            raise _fail(path, f"tensor '{name}' claims its data at offset {offset:,}, not {expected_offset:,}: the tensor table is damaged")
        size = elements // block * type_size
        parameters += elements
        data_needed = offset + size
        expected_offset = data_needed + (-data_needed % alignment)
    if tensor_count == 0:
        raise _fail(path, "the file has no tensors: it is a vocabulary or adapter, not a model", "Pick a model file.")
    data_start = w.pos + (-w.pos % alignment)
    if data_start % _TENSOR_ALIGNMENT:
        raise _fail(path, f"its tensor data starts at byte {data_start:,}, not on the {_TENSOR_ALIGNMENT}-byte boundary llama.cpp needs")
    data_end = data_start + data_needed
    if data_end > file_size:
        raise _fail(
            path,
            f"the file is truncated: its tensors need {data_end:,} bytes but it has {file_size:,}; "
            "the download probably did not finish",
        )
    return GGUFInfo(
        path=path, version=version, tensor_count=tensor_count, metadata=metadata, file_size=file_size,
        parameter_count=parameters,
    )


def inspect_gguf(path: str | Path, header_bytes: int = 64 * 1024 * 1024) -> GGUFInfo:
    """Validate a GGUF file and return its metadata; raise GGUFError with a readable reason if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise GGUFError(f"{path}: the file does not exist. It may have been moved or deleted.")
    if path.is_dir():
        raise GGUFError(f"{path.name}: this is a folder, not a GGUF file. Pick a .gguf file.")
    try:
        file_size = path.stat().st_size
        if file_size < 24:
            raise _fail(path, f"the file is only {file_size} bytes long, too short to be a model")
        with path.open("rb") as fh:
            return _walk_header(_Walker(path, fh, file_size, min(file_size, header_bytes)))
    except GGUFError:
        raise
    except OSError as exc:
        raise GGUFError(f"{path.name}: the file cannot be read ({exc.strerror}). Check its permissions.") from exc
    except Exception as exc:  # anything else in a hostile header means the same to the user
        raise _fail(path, f"its header could not be read ({exc.__class__.__name__}: {exc})") from exc


def inspect_gguf_prefix(name: str, data: bytes, file_size: int) -> GGUFInfo:
    """The same checks on the first bytes of a file that is elsewhere (a hub file read with a ranged request).

    When the header runs past `data`, the GGUFError says the header is larger than what was read, so the caller
    can fetch more.
    """
    import io

    path = Path(name)
    try:
        return _walk_header(_Walker(path, io.BytesIO(data), file_size, min(len(data), file_size)))
    except GGUFError:
        raise
    except Exception as exc:  # noqa: BLE001 - as in inspect_gguf
        raise _fail(path, f"its header could not be read ({exc.__class__.__name__}: {exc})") from exc


def check_lora_adapter(path: str | Path, architecture: str) -> GGUFInfo:
    """Refuse a file llama.cpp would not accept as a LoRA adapter for this architecture. llama-cpp-python does not
    report such a refusal, and the next completion then crashes the process, so this runs first."""
    path = Path(path)
    info = inspect_gguf(path)
    meta = info.metadata
    if meta.get("general.type") != "adapter" or meta.get("adapter.type") != "lora":
        raise GGUFError(f"{path.name} is not a GGUF LoRA adapter.")
    if meta.get("general.architecture") != architecture:
        raise GGUFError(f"{path.name} was made for {meta.get('general.architecture')!r} models, not {architecture!r}.")
    return info
