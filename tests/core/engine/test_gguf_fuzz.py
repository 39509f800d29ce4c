"""Feeds the GGUF check thousands of damaged copies of the starter model's header.

Each case must end in a GGUFInfo (a harmless change) or a GGUFError that names the file and says what to do:
never another exception, a hang, or memory that grows with a number read from the file. A sample also goes
through llama.cpp, in a child process so that a native abort fails the test instead of killing pytest.
"""

from __future__ import annotations

import json
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from app.core.engine.backend import ModelLoadError
from app.core.engine.gguf_check import GGUFError, GGUFInfo, inspect_gguf, inspect_gguf_prefix
from app.core.engine.host import ModelHost

SEED = 20240611
# A case takes a few milliseconds; one still running after this is a hang (a loop driven by a number read from
# the file). Generous, so a busy machine cannot fail it; speed itself is not this test's business.
HANG_SECONDS = 10.0
PEAK_BYTES = 16 * 1024 * 1024  # the real header needs 4 MB, most of it to check 49k tokens for repeats
KEEP_ITEMS = 80  # vocabulary lists are cut to this in the compact header, just past the walker's 64-item limit
ADVICE = ("Re-download", "Pick", "Download", "Update", "Check")
U32_VALUES = (0, 1, 2, 3, 4, 7, 8, 9, 10, 12, 13, 30, 39, 255, 2**16, 2**31, 2**32 - 1)
U64_VALUES = (0, 1, 2, 255, 2**16, 2**31 - 1, 2**32, 2**40, 2**63 - 1, 2**63, 2**64 - 1)
U32_KINDS = ("version", "vtype", "itype", "n_dims", "ggml_type")
U64_KINDS = ("tensor_count", "kv_count", "key_len", "str_len", "arr_count", "name_len", "dim", "offset")
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


@dataclass(frozen=True)
class Field:
    offset: int
    raw: bytes
    kind: str  # what the bytes are: "key_len", "dim", "rest" (the items past KEEP_ITEMS of a long list), ...
    where: str  # "kv 12 llama.context_length", "tensor 0 token_embd.weight"


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    data: bytes
    size: int  # bytes on disk; past `data` the file is a hole ending in the starter's last bytes


def parse_fields(buf: bytes) -> list[Field]:
    """Split a known-good header into its fields, so mutations can aim at each kind of number."""
    fields: list[Field] = []
    pos = 0

    def take(size: int, kind: str, where: str) -> bytes:
        nonlocal pos
        fields.append(Field(pos, buf[pos : pos + size], kind, where))
        pos += size
        return fields[-1].raw

    def num(fmt: str, kind: str, where: str) -> int:
        return struct.unpack("<" + fmt, take(struct.calcsize(fmt), kind, where))[0]

    def item_size(itype: int, at: int) -> int:
        return _SCALAR_SIZES.get(itype) or 8 + struct.unpack_from("<Q", buf, at)[0]

    take(4, "magic", "preamble")
    num("I", "version", "preamble")
    tensors, kvs = num("Q", "tensor_count", "preamble"), num("Q", "kv_count", "preamble")
    for i in range(kvs):
        where = f"kv {i}"
        key = take(num("Q", "key_len", where), "key", where)
        where += " " + key.decode()
        fields[-2:] = [replace(f, where=where) for f in fields[-2:]]
        vtype = num("I", "vtype", where)
        if vtype == 8:
            take(num("Q", "str_len", where), "str", where)
        elif vtype != 9:
            take(_SCALAR_SIZES[vtype], "scalar", where)
        else:
            itype, count = num("I", "itype", where), num("Q", "arr_count", where)
            for _ in range(min(count, KEEP_ITEMS)):
                if itype == 8:
                    take(num("Q", "str_len", where), "str", where)
                else:
                    take(_SCALAR_SIZES[itype], "scalar", where)
            end = pos
            for _ in range(count - min(count, KEEP_ITEMS)):
                end += item_size(itype, end)
            take(end - pos, "rest", where)
    for i in range(tensors):
        where = f"tensor {i}"
        where += " " + take(num("Q", "name_len", where), "name", where).decode()
        fields[-2:] = [replace(f, where=where) for f in fields[-2:]]
        for _ in range(num("I", "n_dims", where)):
            num("Q", "dim", where)
        num("I", "ggml_type", where)
        num("Q", "offset", where)
    return fields


def compact(fields: list[Field]) -> bytes:
    """The header with each long list cut to KEEP_ITEMS entries: a few kB, yet every structure is still there."""
    out = []
    for f in fields:
        if f.kind == "arr_count" and struct.unpack("<Q", f.raw)[0] > KEEP_ITEMS:
            out.append(struct.pack("<Q", KEEP_ITEMS))
        elif f.kind != "rest":
            out.append(f.raw)
    return b"".join(out)


def padded(header: bytes) -> int:
    return len(header) + (-len(header) % 32)


def kv_bytes(key: bytes, vtype: int, value: bytes) -> bytes:
    return struct.pack("<Q", len(key)) + key + struct.pack("<I", vtype) + value


def with_extra_kv(header: bytes, kv: bytes, count: int = 1) -> bytes:
    """Insert metadata entries right after the preamble and raise the entry count to match."""
    kvs = struct.unpack_from("<Q", header, 16)[0]
    return header[:16] + struct.pack("<Q", kvs + count) + kv + header[24:]


def replace_value(header: bytes, fields: list[Field], key: str, vtype: int, value: bytes) -> bytes:
    """Give a metadata entry a new type and value; add it if the header has no such key."""
    kv = kv_bytes(key.encode(), vtype, value)
    mine = [f for f in fields if f.where.startswith("kv ") and f.where.endswith(" " + key)]
    if not mine:
        return with_extra_kv(header, kv)
    start, end = mine[0].offset, mine[-1].offset + len(mine[-1].raw)
    return header[:start] + kv + header[end:]


def patch(header: bytes, field: Field, value: int) -> bytes:
    raw = struct.pack("<I" if len(field.raw) == 4 else "<Q", value)
    return header[: field.offset] + raw + header[field.offset + len(raw) :]


class Bases:
    """The real starter header, parsed, and its compact form; cases are built from these."""

    def __init__(self, path: Path):
        self.file_size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(4 * 1024 * 1024)
            fh.seek(-32, 2)
            self.tail = fh.read()
        full_fields = parse_fields(head)
        self.full = head[: full_fields[-1].offset + len(full_fields[-1].raw)]
        self.data_len = self.file_size - padded(self.full)  # the tensor data section, which every case keeps
        self.small = compact(full_fields)
        self.fields = parse_fields(self.small)
        self.full_fields = full_fields

    def size_for(self, header: bytes) -> int:
        return padded(header) + self.data_len


def build_cases(bases: Bases, rng: random.Random) -> list[Case]:
    small, fields, size = bases.small, bases.fields, bases.size_for(bases.small)
    cases: list[Case] = []

    def add(cat: str, what: str, data: bytes, file_size: int | None = None) -> None:
        real = bases.size_for(data) if file_size is None else file_size
        cases.append(Case(f"{cat}-{len(cases):05d}", what, data, real))

    add("valid", "the compact header, untouched", small)
    add("valid", "the real header, untouched", bases.full)
    for n in range(41):
        add("short", f"the first {n} bytes", small[:n], n)
    # Truncation at every boundary of interest: the start, second byte, middle and last byte of each field of
    # each metadata entry (of a list, its first items and last) and of the first, middle and last tensor info.
    table = [f for f in fields if f.where.startswith("tensor")]
    keep_tensors = {table[0].where, table[-1].where, table[len(table) // 2].where}
    entries: dict[str, list[Field]] = {}
    for f in fields:
        if not f.where.startswith("tensor") or f.where in keep_tensors:
            entries.setdefault(f.where, []).append(f)
    for f in [f for group in entries.values() for f in (group[:7] + group[7:][-2:])]:
        for cut in sorted({f.offset, f.offset + 1, f.offset + len(f.raw) // 2, f.offset + len(f.raw) - 1}):
            if f.offset <= cut < f.offset + max(len(f.raw), 1):
                add("cut", f"cut at byte {cut}, inside {f.kind} of {f.where}", small[:cut], cut)
    for cut in (len(small), padded(small), padded(small) + 1, size - 1):
        add("cut", f"cut at byte {cut}, at the end of the header or data", small, cut)
    for _ in range(250):
        cut = rng.randrange(len(small))
        add("cutrand", f"cut at byte {cut} of the header", small[:cut], cut)
    for _ in range(100):
        cut = rng.randrange(len(small), size)
        add("datashort", f"data section cut at byte {cut} of {size}", small, cut)
    for _ in range(25):
        cut = rng.randrange(len(bases.full))
        add("cutfull", f"real header cut at byte {cut}", bases.full[:cut], cut)
    for _ in range(5):
        cut = rng.randrange(len(bases.full), bases.file_size)
        add("datashort", f"real file cut at byte {cut}", bases.full, cut)
    # Flipped and randomised bytes: anywhere in the header, or aimed at the metadata before the tensor table.
    meta_end = table[0].offset
    for i in range(700):
        buf = bytearray(small)
        end = meta_end if i % 2 else len(small)
        for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
            at = rng.randrange(end)
            buf[at] = rng.choice((buf[at] ^ rng.randrange(1, 256), 0, 0xFF, rng.randrange(256)))
        add("flip", "bytes changed in the header", bytes(buf))
    # Absurd and edge values in every numeric field, a sample of (field, value) pairs per kind of field.
    for kind in U32_KINDS + U64_KINDS:
        mine = [f for f in fields if f.kind == kind]
        values = U32_VALUES if kind in U32_KINDS else U64_VALUES
        pairs = [(f, v) for f in mine for v in values + (len(small), size)]
        pairs += [(f, struct.unpack("<I" if len(f.raw) == 4 else "<Q", f.raw)[0] + d) for f in mine for d in (-1, 1)]
        for f, v in rng.sample(pairs, min(len(pairs), 40)):
            if 0 <= v < 2 ** (8 * len(f.raw)):
                add("field", f"{kind} of {f.where} set to {v}", patch(small, f, v))
    for _ in range(100):
        add("magic", "right magic, random rest", b"GGUF" + rng.randbytes(rng.randrange(20, 4096)))
    for _ in range(100):
        rest = rng.randbytes(rng.randrange(0, 4096))
        add("magic", "right magic and version, random rest", b"GGUF" + struct.pack("<I", 3) + rest)
    for _ in range(50):
        counts = struct.pack("<QQ", rng.randrange(1, 300), rng.randrange(0, 40))
        add("magic", "right magic, version and small counts, random rest", b"GGUF\x03\0\0\0" + counts + rng.randbytes(2000))
    for version in (0, 1, 2, 4, 5, 2**16, 2**31, 2**32 - 1):
        add("version", f"version {version}", small[:4] + struct.pack("<I", version) + small[8:])
    add_structural_cases(add, bases, rng)
    return cases


def add_structural_cases(add, bases: Bases, rng: random.Random) -> None:
    """Hand-made damage: unknown types, nesting, mistyped metadata, impossible tensors, and hostile sizes."""
    small, fields = bases.small, bases.fields
    u32, u64 = (lambda v: struct.pack("<I", v)), (lambda v: struct.pack("<Q", v))

    def string(b: bytes) -> bytes:
        return u64(len(b)) + b

    def array(itype: int, items: list[bytes]) -> bytes:
        return u32(itype) + u64(len(items)) + b"".join(items)

    extra = {
        "unknown value type 13": kv_bytes(b"fuzz.x", 13, b"\0" * 8),
        "unknown value type 255": kv_bytes(b"fuzz.x", 255, b"\0" * 8),
        "unknown value type 2**32-1": kv_bytes(b"fuzz.x", 2**32 - 1, b"\0" * 8),
        "list of lists of u8": kv_bytes(b"fuzz.x", 9, array(9, [array(0, [b"\1"] * 3)] * 3)),
        "list of lists of strings": kv_bytes(b"fuzz.x", 9, array(9, [array(8, [string(b"ab")] * 2)] * 70)),
        "lists nested three deep": kv_bytes(b"fuzz.x", 9, array(9, [array(9, [array(0, [b"\1"])])])),
        "empty list of an unknown type": kv_bytes(b"fuzz.x", 9, u32(77) + u64(0)),
        "list of one unknown item": kv_bytes(b"fuzz.x", 9, u32(77) + u64(1) + b"\0" * 8),
        "list of 2**60 unknown items": kv_bytes(b"fuzz.x", 9, u32(77) + u64(2**60)),
        "list of 2**64-1 u8": kv_bytes(b"fuzz.x", 9, u32(0) + u64(2**64 - 1)),
        "list of 2**61 strings": kv_bytes(b"fuzz.x", 9, u32(8) + u64(2**61)),
        "list of 2**61 lists": kv_bytes(b"fuzz.x", 9, u32(9) + u64(2**61)),
        "inner list of 2**62 u64": kv_bytes(b"fuzz.x", 9, array(9, [u32(10) + u64(2**62)])),
        "long list whose 70th text overruns": kv_bytes(b"fuzz.x", 9, array(8, [string(b"a")] * 69 + [u64(2**40)])),
        "bools holding 2..255": kv_bytes(b"fuzz.x", 9, array(7, [bytes([b]) for b in range(2, 256)])),
        "vocabulary with a repeated token": kv_bytes(b"tokenizer.ggml.tokens", 9, array(8, [string(bytes([t])) for t in b"aba"])),
        "text that is not UTF-8": kv_bytes(b"fuzz.x", 8, string(b"\xff\xfe\xc3(\xa0\xa1")),
        "empty key": kv_bytes(b"", 4, u32(1)),
        "key of 10 kB with control characters, bad type": kv_bytes(b"\n\x1b[31m" * 2000, 99, b""),
        "tensor-sized string as a key": kv_bytes(b"k" * 50_000, 8, string(b"v")),
    }
    for what, kv in extra.items():
        add("kv", what, with_extra_kv(small, kv))
    add("kv", "70,000 tiny entries", with_extra_kv(small, kv_bytes(b"", 0, b"\0") * 70_000, 70_000))
    distinct = b"".join(kv_bytes(b"k%d" % i, 0, b"\0") for i in range(5000))
    add("kv", "5,000 distinct tiny entries", with_extra_kv(small, distinct, 5000))
    big_lists = {
        "list of 100,000 empty texts": u32(8) + u64(100_000) + u64(0) * 100_000,
        "vocabulary of 100,000 distinct tokens": u32(8) + u64(100_000) + b"".join(string(b"%x" % i) for i in range(100_000)),
        "list of 100,000 empty lists": u32(9) + u64(100_000) + (u32(0) + u64(0)) * 100_000,
        "list of 2,000,000 u8": u32(0) + u64(2_000_000) + b"\0" * 2_000_000,
    }
    for what, value in big_lists.items():
        key = b"tokenizer.ggml.tokens" if what.startswith("vocabulary") else b"fuzz.x"
        add("kv", what, with_extra_kv(small, kv_bytes(key, 9, value)))
    typed = {
        "llama.context_length": [(8, string(b"8192")), (5, struct.pack("<i", -5)), (6, struct.pack("<f", float("nan"))),
                                 (4, u32(0)), (10, u64(2**64 - 1)), (7, b"\1"), (9, array(4, [u32(9)] * 3))],
        "general.alignment": [(4, u32(0)), (4, u32(3)), (4, u32(1)), (4, u32(16)), (4, u32(64)), (4, u32(2**31)),
                              (10, u64(2**40)), (8, string(b"32" * 100)), (7, b"\1"), (6, struct.pack("<f", 32.0))],
        "tokenizer.chat_template": [(4, u32(3)), (9, array(8, [string(b"{{ x }}")] * 2)), (8, string(b"{% for %}")),
                                    (8, string(b"{{ x }}" * 300_000)), (8, u64(50_000_000))],
        "general.name": [(9, array(4, [u32(1)] * 100)), (4, u32(7)), (8, string(b""))],
        "general.architecture": [(4, u32(3)), (8, string(b"")), (8, string(b"zzz")), (9, array(8, [string(b"llama")]))],
        "llama.block_count": [(4, u32(0)), (4, u32(513)), (4, u32(2**32 - 1)), (8, string(b"30")),
                              (11, struct.pack("<q", -1))],
        "tokenizer.ggml.tokens": [(9, array(5, [u32(1)] * 10)), (9, array(8, [])), (8, string(b"a"))],
    }
    for key, options in typed.items():
        for vtype, value in options:
            add("meta", f"{key} as type {vtype}: {value[:16].hex()}", replace_value(small, fields, key, vtype, value))
    table = [f for f in fields if f.where.startswith("tensor")]
    for f in rng.sample([f for f in table if f.kind in ("dim", "offset")], 20):
        for v in (2**40, 2**62, 2**64 - 1):
            add("tensor", f"{f.kind} of {f.where} set to {v}", patch(small, f, v))
    for f in [f for f in table if f.kind == "ggml_type"][:3]:
        for v in (4, 5, 6, 31, 39, 40, 1000):
            add("tensor", f"type of {f.where} set to {v}", patch(small, f, v))
    count = [f for f in fields if f.kind == "tensor_count"][0]
    add("tensor", "no tensors", patch(small[: table[0].offset], count, 0))
    minimal = string(b"") + u32(0) + u32(0) + u64(0)  # an f32 scalar at offset 0: the smallest tensor info
    add("tensor", "200,000 minimal tensor infos", patch(small[: table[0].offset], count, 200_000) + minimal * 200_000)
    for cut in rng.sample(range(len(small) - 20, len(small)), 5):
        add("tensor", "tensor table cut inside the last entry", small[:cut], cut)


@contextmanager
def deadline(seconds: float, label: str):
    """Interrupt a case that runs too long (where the platform has SIGALRM); slow cases are also caught by timing."""

    class Hang(BaseException):  # BaseException, so the walker's catch-all cannot turn it into a GGUFError
        pass

    def on_alarm(signum, frame):
        raise Hang(f"{label}: still running after {seconds}s")

    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if usable:
        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def write_case(case: Case, folder: Path, tail: bytes) -> Path:
    path = folder / f"{case.name}.gguf"
    with path.open("wb") as fh:
        fh.write(case.data[: case.size])
        if case.size > len(case.data):  # a sparse hole, so a 98 MB case costs a few kB of disk
            end = tail[-(case.size - len(case.data)) :]
            fh.seek(case.size - len(end))
            fh.write(end)
    return path


def check_outcome(case: Case, path: Path) -> str:
    """Inspect one case and return how it ended; fail the test on anything but a usable or a clear answer."""
    label = f"{case.name} ({case.what})"
    started = time.perf_counter()
    try:
        with deadline(HANG_SECONDS, label):
            info = inspect_gguf(path)
    except GGUFError as err:
        message = str(err)
        assert err.__cause__ is None, f"{label}: the walker itself failed and the safety net caught it: {message}"
        assert message.startswith(path.name + ":"), f"{label}: the message does not name the file: {message!r}"
        assert len(message) < 400 and message.isprintable(), f"{label}: the message is not fit to show: {message!r}"
        assert any(word in message for word in ADVICE), f"{label}: the message says nothing to do: {message}"
        reason = re.sub(r"'[^']*'|\d[\d,]*", "#", message.split(": ", 1)[1])
        outcome = "error: " + " ".join(reason.split()[:6])
    else:
        assert isinstance(info, GGUFInfo) and info.tensor_count > 0 and info.file_size == case.size, label
        assert isinstance(info.architecture, str) and isinstance(info.name, str), label
        assert info.chat_template is None or isinstance(info.chat_template, str), label
        ctx = info.context_length
        assert ctx is None or (type(ctx) is int and ctx > 0), f"{label}: context length {ctx!r}"
        outcome = "usable"
    elapsed = time.perf_counter() - started
    assert elapsed < HANG_SECONDS, f"{label}: took {elapsed:.2f}s"
    return outcome


def traced_peak(path: Path) -> int:
    """The most memory Python held at once while inspecting the file (timed runs are kept free of tracemalloc)."""
    tracemalloc.start()
    try:
        with suppress(GGUFError):
            inspect_gguf(path)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def bases(starter_path) -> Bases:
    return Bases(starter_path)


@pytest.fixture(scope="module")
def cases(bases) -> list[Case]:
    return build_cases(bases, random.Random(SEED))


def test_the_cases_are_seeded_and_cover_every_kind_of_damage(bases, cases):
    again = build_cases(bases, random.Random(SEED))
    assert [(c.name, c.size, c.data) for c in again] == [(c.name, c.size, c.data) for c in cases]  # reproducible
    by_category: dict[str, int] = {}
    for case in cases:
        by_category[case.name.split("-")[0]] = by_category.get(case.name.split("-")[0], 0) + 1
    assert by_category["valid"] == 2 and by_category["short"] == 41 and by_category["version"] == 8
    assert by_category["flip"] == 700 and by_category["magic"] == 250 and by_category["cutrand"] == 250
    for category in ("cut", "cutfull", "datashort", "field", "kv", "meta", "tensor"):
        assert by_category.get(category, 0) >= 5, category
    fields_hit = {c.what.split(" of ")[0] for c in cases if c.name.startswith("field")}
    assert fields_hit == set(U32_KINDS + U64_KINDS)  # every numeric field of the format gets absurd values
    cut_kinds = {c.what.split(", inside ")[1].split(" of ")[0] for c in cases if ", inside " in c.what}
    assert set(U32_KINDS + U64_KINDS) - {"offset"} <= cut_kinds | {"tensor_count", "kv_count", "version"}


def test_every_damaged_header_gets_a_clear_answer(tmp_path, bases, cases):
    started = time.perf_counter()
    outcomes: dict[str, int] = {}
    peak = 0
    for i, case in enumerate(cases):
        path = write_case(case, tmp_path, bases.tail)
        outcome = check_outcome(case, path)
        if i % 50 == 0 or case.name.startswith(("kv", "valid", "tensor", "meta")):  # tracemalloc is slow; sample
            case_peak = traced_peak(path)
            assert case_peak < PEAK_BYTES, f"{case.name} ({case.what}): peak {case_peak:,} bytes"
            peak = max(peak, case_peak)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if case.name.startswith("valid"):
            assert outcome == "usable", case.what
        path.unlink()
    summary = "; ".join(f"{n} {o}" for o, n in sorted(outcomes.items(), key=lambda kv: -kv[1])[:12])
    print(f"\n{len(cases)} cases in {time.perf_counter() - started:.1f}s, peak {peak / 2**20:.1f} MB: {summary}")
    assert outcomes.get("usable", 0) > 20 and sum(outcomes.values()) - outcomes["usable"] > 1500


def test_a_head_held_in_memory_gets_the_same_answer_as_the_file(tmp_path, bases, cases):
    """inspect_gguf_prefix (a hub file's first bytes) agrees with inspect_gguf, or asks for more of the file."""
    for case in cases[::10]:
        path = write_case(case, tmp_path, bases.tail)
        with path.open("rb") as fh:
            head = fh.read(len(case.data) + 64 * 1024)
        answers = []
        for check in (lambda: inspect_gguf(path), lambda: inspect_gguf_prefix(path.name, head, case.size)):
            try:
                answers.append(("usable", check().tensor_count))
            except GGUFError as err:
                answers.append(("error", str(err)))
        if case.size < 24:  # the file check stops before reading a byte; both must still refuse
            answers = [a[0] for a in answers]
        if "header is larger" not in str(answers[1]):
            assert answers[0] == answers[1], case.what
        path.unlink()
    with pytest.raises(GGUFError, match="header is larger"):
        inspect_gguf_prefix("remote.gguf", bases.full[: len(bases.full) // 2], bases.file_size)
    assert inspect_gguf_prefix("remote.gguf", bases.full, bases.file_size).context_length == 8192


LOAD_SCRIPT = """
import json, sys
from app.core.engine.backend import ModelLoadError
from app.core.engine.host import ModelHost
host = ModelHost()
for model_id, (name, path) in enumerate(json.loads(sys.argv[1])):
    print("start", name, flush=True)
    try:
        host.load(model_id, path, "fuzz", "gguf")
        outcome = "loaded"
    except ModelLoadError as exc:
        outcome = "error " + str(exc).replace(chr(10), " ")
    print("result", name, outcome, flush=True)
"""


def llama_cases(bases: Bases) -> list[Case]:
    """The real header damaged where llama.cpp looks: tensor table, hyperparameters, vocabulary.

    Some the walker refuses; the rest reach llama.cpp. The last three made llama.cpp abort the whole process.
    """
    full, fields = bases.full, bases.full_fields
    table = [f for f in fields if f.where.startswith("tensor")]
    wheres = list(dict.fromkeys(f.where for f in table))
    first = {f.kind: f for f in table if f.where == wheres[0]}
    second = {f.kind: f for f in table if f.where == wheres[1]}
    dims = [f for f in table if f.kind == "dim" and f.where == wheres[0]]
    name_start, name_end = first["name_len"].offset, first["name"].offset + len(first["name"].raw)
    out = []

    def add(what: str, data: bytes) -> None:
        out.append(Case(f"llama-{len(out):02d}", what, data, bases.size_for(data)))

    add("first tensor offset moved by 32", patch(full, first["offset"], 32))
    add("second tensor offset moved by 1", patch(full, second["offset"], struct.unpack("<Q", second["offset"].raw)[0] + 1))
    add("first tensor typed f32 for q8_0 (sizes disagree)", patch(full, first["ggml_type"], 1))
    add("first tensor's dimensions swapped", patch(patch(full, dims[0], 49152), dims[1], 576))
    add("first tensor's width 32 larger", patch(full, dims[0], 576 + 32))
    add("a tensor renamed", full[:name_start] + struct.pack("<Q", 3) + b"zzz" + full[name_end:])
    add("a tensor name repeated", full[:name_start] + second["name_len"].raw + second["name"].raw + full[name_end:])
    add("head count zero", replace_value(full, fields, "llama.attention.head_count", 4, struct.pack("<I", 0)))
    add("block count as text", replace_value(full, fields, "llama.block_count", 8, struct.pack("<Q", 2) + b"30"))
    add("unknown architecture", replace_value(full, fields, "general.architecture", 8, struct.pack("<Q", 3) + b"zzz"))
    two = struct.pack("<IQ", 8, 2) + struct.pack("<Q", 1) + b"a" + struct.pack("<Q", 1) + b"b"
    add("vocabulary of two tokens", replace_value(full, fields, "tokenizer.ggml.tokens", 9, two))
    merges = struct.pack("<IQ", 5, 3) + b"\1\0\0\0" * 3
    add("merges stored as numbers", replace_value(full, fields, "tokenizer.ggml.merges", 9, merges))
    repeat = struct.pack("<IQ", 8, 2) + (struct.pack("<Q", 1) + b"a") * 2
    add("vocabulary repeating a token (llama.cpp asserts)", replace_value(full, fields, "tokenizer.ggml.tokens", 9, repeat))
    add("block count 513 (llama.cpp asserts)", replace_value(full, fields, "llama.block_count", 4, struct.pack("<I", 513)))
    add("alignment 16 (llama.cpp asserts)", with_extra_kv(full, kv_bytes(b"general.alignment", 4, struct.pack("<I", 16))))
    return out


@pytest.mark.slow
def test_llama_cpp_turns_damaged_files_into_load_errors(tmp_path, bases, cases):
    """Thirty files the walker rejects and fifteen aimed at llama.cpp all end in ModelLoadError, in a child process."""
    rng = random.Random(SEED + 1)
    rejected = []
    for case in cases:
        if case.name.startswith(("valid", "kv")):
            continue
        path = write_case(case, tmp_path, bases.tail)
        try:
            inspect_gguf(path)
            path.unlink()
        except GGUFError:
            rejected.append((case, path))
    chosen = rng.sample(rejected, 30) + [(c, write_case(c, tmp_path, bases.tail)) for c in llama_cases(bases)]
    run = subprocess.run(
        [sys.executable, "-c", LOAD_SCRIPT, json.dumps([(c.name, str(p)) for c, p in chosen])],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[3],
    )
    lines = run.stdout.splitlines()
    started_names = [line.split()[1] for line in lines if line.startswith("start ")]
    assert run.returncode == 0, (
        f"the loader process died (exit {run.returncode}) on {started_names[-1:]}: {run.stderr[-2000:]}"
    )
    results = {line.split()[1]: line.split(" ", 2)[2] for line in lines if line.startswith("result ")}
    by_name = {c.name: c for c, _ in chosen}
    for name, result in results.items():
        assert result.startswith(f"error {name}.gguf: "), f"{name} ({by_name[name].what}): {result[:300]}"
    assert len(results) == len(chosen) == 45


def test_a_damaged_chat_template_is_a_load_error_not_a_fallback(tmp_path, bases):
    """No silent fallback to a template that is not the model's: the load fails and says which file and why."""
    template = b"{% for message in messages %}{{ message['content'] }}{% endfo %}"
    value = struct.pack("<Q", len(template)) + template
    data = replace_value(bases.full, bases.full_fields, "tokenizer.chat_template", 8, value)
    path = write_case(Case("template", "a damaged chat template", data, bases.size_for(data)), tmp_path, bases.tail)
    host = ModelHost()
    try:
        with pytest.raises(ModelLoadError, match=rf"^{re.escape(path.name)}: .*chat template is broken"):
            host.load(1, str(path), "fuzz", "gguf")
        assert not host.is_loaded(1)
    finally:
        host.unload()
