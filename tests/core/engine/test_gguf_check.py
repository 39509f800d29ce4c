import struct

import pytest

from app.core.engine.gguf_check import GGUFError, inspect_gguf


def _header(version=3, tensors=0, kvs=0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, tensors, kvs)


def test_starter_model_passes_with_its_metadata(starter_path):
    info = inspect_gguf(starter_path)
    assert info.architecture == "llama"
    assert info.context_length == 8192
    assert "<|im_start|>" in info.chat_template
    assert info.tensor_count > 100


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"PK\x03\x04 definitely a zip file" * 4, r"not a GGUF model \(bad magic bytes\)"),
        (_header(version=99) + b"\0" * 32, "GGUF version 99 is not supported"),
        (_header(tensors=2**40, kvs=2**40) + b"\0" * 64, "cannot be right"),
        (b"GGUF\x03\x00", "too short"),
    ],
)
def test_bad_files_get_a_clear_reason(tmp_path, content, expected):
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFError, match=expected) as err:
        inspect_gguf(path)
    assert "bad.gguf" in str(err.value)


def test_truncated_copy_of_a_real_model_is_reported_as_truncated(tmp_path, starter_path):
    data = starter_path.read_bytes()
    for cut, expected in ((len(data) // 2, "truncated"), (5000, "truncated")):
        path = tmp_path / f"cut{cut}.gguf"
        path.write_bytes(data[:cut])
        with pytest.raises(GGUFError, match=expected):
            inspect_gguf(path)


def test_absurd_string_length_is_caught(tmp_path):
    key = b"general.name"
    body = _header(tensors=1, kvs=1) + struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, 2**62) + b"x" * 100
    path = tmp_path / "long.gguf"
    path.write_bytes(body)
    with pytest.raises(GGUFError, match="more than the file holds"):
        inspect_gguf(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(GGUFError, match="does not exist"):
        inspect_gguf(tmp_path / "nope.gguf")
    with pytest.raises(GGUFError, match="folder"):
        inspect_gguf(tmp_path)
