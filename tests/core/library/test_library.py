"""The local library: scanning, importing, renaming, removing, and reading metadata from headers only."""

import json
import shutil
import struct
from pathlib import Path

import pytest

from app import paths
from app.core.engine.gguf_check import GGUFError
from app.core.library import registry, scan
from app.core.library.metadata import ModelFolderError, quant_from_filename, summarise_hf_folder
from app.core.library.sample_gguf import write_tiny_gguf


def _bytes_read() -> int:
    """Bytes this process has read through read() calls, cached or not (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


def test_scan_lists_fifty_big_models_without_reading_their_weights(db):
    folder = paths.models_dir() / "many"
    for i in range(50):  # 50 models of 200 MB each (sparse): 10 GB of "weights"
        write_tiny_gguf(folder / f"model-{i:02d}-Q8_0.gguf", name=f"m{i}", sparse_bytes=200_000_000)
    before = _bytes_read()
    with db.session() as s:
        report = scan.scan(s)
    read = _bytes_read() - before
    assert len(report.added) == 50 and not report.problems
    assert read < 50 * 2_000_000, f"listing read {read:,} bytes: it must read headers, not weights"
    with db.session() as s:
        again = scan.scan(s)
        models = registry.list_models(s)
    assert again.added == [] and again.seen == 50 and len(models) == 50
    m = models[0]
    assert m.info["layers"] == 2 and m.info["n_head_kv"] == 2 and m.info["context_length"] == 2048
    assert m.info["chat_template"] is True and m.size_bytes > 200_000_000


def test_scan_reports_broken_files_and_skips_shards_and_partials(db):
    folder = paths.models_dir()
    write_tiny_gguf(folder / "good.gguf")
    (folder / "broken.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    write_tiny_gguf(folder / "big-00002-of-00003.gguf")
    (folder / "half.gguf.part").write_bytes(b"GGUF")
    with db.session() as s:
        report = scan.scan(s)
    assert [m.name for m in report.added] == ["good"]
    assert len(report.problems) == 1 and "broken.gguf" in report.problems[0]


def test_added_folder_is_scanned_in_place_and_missing_files_stay_listed(db, tmp_path):
    outside = tmp_path / "my-models"
    write_tiny_gguf(outside / "mine.gguf", name="mine")
    with db.session() as s:
        scan.add_folder(s, outside)
        report = scan.scan(s)
    assert report.added[0].path == str((outside / "mine.gguf").resolve())
    (outside / "mine.gguf").unlink()
    with db.session() as s:
        scan.scan(s)
        (ref,) = registry.list_models(s)
    assert ref.name == "mine" and not ref.exists


def test_import_copy_and_in_place(db, tmp_path):
    src = write_tiny_gguf(tmp_path / "incoming" / "pal-Q4_K_M.gguf", name="pal")
    with db.session() as s:
        copied = scan.import_model(s, src, copy=True)
    assert Path(copied.path).parent == paths.models_dir().resolve() and src.exists()
    other = write_tiny_gguf(tmp_path / "elsewhere" / "pal-Q4_K_M.gguf", name="pal")
    with db.session() as s:
        in_place = scan.import_model(s, other, copy=False)
    assert in_place.path == str(other.resolve()) and in_place.name == "pal-Q4_K_M (2)"


def test_import_of_a_broken_file_leaves_no_copy_behind(db, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" * 100)
    with db.session() as s, pytest.raises(GGUFError, match="bad magic"):
        scan.import_model(s, bad, copy=True)
    assert not (paths.models_dir() / "bad.gguf").exists()


def test_rename_default_and_remove_with_and_without_files(db, tmp_path):
    a = write_tiny_gguf(paths.models_dir() / "a.gguf", name="a")
    b = write_tiny_gguf(paths.models_dir() / "b.gguf", name="b")
    with db.session() as s:
        scan.scan(s)
        ra, rb = (registry.find_model(s, n) for n in ("a", "b"))
        assert registry.default_model(s).id == ra.id
        assert registry.rename_model(s, rb.id, "a") == "a (2)"
        registry.set_default(s, rb.id)
    assert registry.remove_model(db, rb.id) == []  # list only
    assert b.exists()
    with db.session() as s:
        assert registry.default_model(s).id == ra.id  # the default moves to what is left
    assert registry.remove_model(db, ra.id, delete_files=True) == [str(a.resolve())]
    assert not a.exists()


def test_starter_file_is_never_deleted(core):
    with core.db.session() as s:
        starter = registry.default_model(s)
    with pytest.raises(ValueError, match="comes with Hearth"):
        registry.remove_model(core.db, starter.id, delete_files=True)
    with core.db.session() as s:
        assert registry.get_model(s, starter.id) is not None


def _write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    header, offset = {}, 0
    sizes = {"F32": 4, "BF16": 2, "F16": 2}
    for name, (dtype, shape) in tensors.items():
        n = sizes[dtype]
        for d in shape:
            n *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def test_hf_folder_summary_reads_config_and_safetensors_headers(tmp_path):
    folder = tmp_path / "Tiny-HF"
    folder.mkdir()
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096, "vocab_size": 100,
        "intermediate_size": 128,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages }}"}))
    _write_safetensors(folder / "model.safetensors", {"embed": ("BF16", [100, 64]), "head": ("BF16", [64, 100])})
    info = summarise_hf_folder(folder)
    assert info["parameters"] == 12800 and info["weights_bytes"] == 25600 and info["quant"] == "BF16"
    assert (info["layers"], info["n_head_kv"], info["head_dim"], info["context_length"]) == (2, 2, 16, 4096)
    assert info["chat_template"] is True
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelFolderError, match="pickle"):
        summarise_hf_folder(folder)


@pytest.mark.parametrize(
    "name,quant",
    [
        ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"),
        ("llama-3-8b.IQ2_XS.gguf", "IQ2_XS"),
        ("model-f16.gguf", "F16"),
        ("phi-3-mini-4k-instruct-q8_0.gguf", "Q8_0"),
        ("smollm2-135m-instruct-bf16.gguf", "BF16"),
        ("plain-name.gguf", None),
    ],
)
def test_quant_from_filename(name, quant):
    assert quant_from_filename(name) == quant


def test_starter_summary_has_what_the_fit_estimate_needs(starter_path, tmp_path):
    copy = tmp_path / starter_path.name
    shutil.copyfile(starter_path, copy)
    from app.core.library.metadata import summarise_gguf

    info = summarise_gguf(copy)
    assert info["quant"] == "Q4_1" and info["layers"] == 30 and info["n_head_kv"] == 3 and info["head_dim"] == 64
    assert info["vocab_size"] == 49152 and info["chat_template"] is True
