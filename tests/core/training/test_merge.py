"""Merging a GGUF LoRA adapter into the starter model's GGUF (numpy and the gguf package; llama.cpp reads the result).

These use a made-up adapter, so they need no training; the trained persona adapter is merged in test_worker.py.
"""

from pathlib import Path

import numpy as np
import pytest

from app.core.training import merge
from app.core.training.merge import MergeError, merge_gguf

PROMPT = "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
ADAPTED = ("blk.0.attn_q.weight", "blk.3.ffn_down.weight", "blk.5.attn_k.weight", "blk.7.ffn_up.weight")


def _shapes(model: Path) -> dict[str, tuple[int, ...]]:
    import gguf

    return {t.name: tuple(int(x) for x in reversed(t.shape)) for t in gguf.GGUFReader(str(model)).tensors}


def write_adapter(path: Path, shapes: dict, names=ADAPTED, scale: float = 0.05, rank: int = 8) -> Path:
    import gguf

    rng = np.random.default_rng(7)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, 2.0 * rank)
    for name in names:
        out, inp = shapes[name]
        writer.add_tensor(f"{name}.lora_a", (rng.standard_normal((rank, inp)) * scale).astype(np.float32))
        writer.add_tensor(f"{name}.lora_b", (rng.standard_normal((out, rank)) * scale).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def last_logits(model: Path, lora: Path | None = None) -> np.ndarray:
    import llama_cpp

    from app.core.engine.cpu_layouts import open_llama  # the layouts this CPU can run, as the app opens models

    llm = open_llama(model_path=str(model), n_ctx=128, n_threads=2, verbose=False,
                     **({"lora_path": str(lora)} if lora else {}))
    try:
        llm.eval(llm.tokenize(PROMPT.encode(), special=True))
        logits = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).copy()
    finally:
        llm.close()


@pytest.fixture(scope="module")
def shapes(starter_path):
    return _shapes(starter_path)


def test_a_merged_f16_model_answers_like_the_adapter_applied_at_run_time(tmp_path, starter_path, shapes):
    """Same f16 weights, same llama.cpp: adding B·A into the weights must match applying the adapter on the fly."""
    import gguf

    adapter = write_adapter(tmp_path / "adapter.gguf", shapes)
    silent = write_adapter(tmp_path / "silent.gguf", shapes, scale=0.0)
    plain = merge_gguf(starter_path, silent, tmp_path / "plain-f16.gguf", "f16")  # the base, converted only
    merged = merge_gguf(starter_path, adapter, tmp_path / "merged-f16.gguf", "f16", name="Base + test")
    base, at_run_time, baked_in = last_logits(plain), last_logits(plain, adapter), last_logits(merged)
    effect = np.abs(at_run_time - base).max()
    assert effect > 0.1, "the made-up adapter must change the answer measurably"
    assert np.abs(baked_in - at_run_time).max() < effect / 5

    reader = gguf.GGUFReader(str(merged))
    assert reader.fields["general.name"].contents() == "Base + test"
    assert reader.fields["general.file_type"].contents() == int(gguf.LlamaFileType.MOSTLY_F16)
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32, "norms stay float32"
    source = gguf.GGUFReader(str(starter_path))
    assert reader.fields["tokenizer.chat_template"].contents() == source.fields["tokenizer.chat_template"].contents()
    assert not list(tmp_path.glob("*.partial"))


def test_q8_0_is_half_the_size_of_f16_and_loads(tmp_path, starter_path, shapes):
    import gguf

    adapter = write_adapter(tmp_path / "adapter.gguf", shapes)
    out = merge_gguf(starter_path, adapter, tmp_path / "merged-q8.gguf", "q8_0")
    assert out.stat().st_size == pytest.approx(merge.merged_gguf_size(starter_path, "q8_0"), rel=0.02)
    assert out.stat().st_size < 0.6 * merge.merged_gguf_size(starter_path, "f16")
    reader = gguf.GGUFReader(str(out))
    assert {t.tensor_type for t in reader.tensors if t.name.endswith("attn_q.weight")} == {gguf.GGMLQuantizationType.Q8_0}
    assert np.isfinite(last_logits(out)).all()


def test_four_bit_output_is_refused_because_it_erases_the_fine_tune(tmp_path, starter_path, shapes):
    adapter = write_adapter(tmp_path / "adapter.gguf", shapes)
    with pytest.raises(MergeError, match="f16 or q8_0"):
        merge_gguf(starter_path, adapter, tmp_path / "out.gguf", "q4_0")


def test_an_adapter_for_another_model_is_refused_before_anything_is_written(tmp_path, starter_path, shapes):
    wrong = {name: (shapes[name][0] * 2, shapes[name][1]) for name in ADAPTED}
    adapter = write_adapter(tmp_path / "adapter.gguf", wrong)
    with pytest.raises(MergeError, match="another base"):
        merge_gguf(starter_path, adapter, tmp_path / "out.gguf", "f16")
    assert not list(tmp_path.glob("out.gguf*"))
    with pytest.raises(MergeError, match="not a GGUF LoRA adapter"):
        merge_gguf(starter_path, starter_path, tmp_path / "out.gguf", "f16")


def test_a_full_disk_is_a_clear_message_and_leaves_no_file(tmp_path, starter_path, shapes, monkeypatch):
    adapter = write_adapter(tmp_path / "adapter.gguf", shapes)
    monkeypatch.setattr(merge.shutil, "disk_usage", lambda _p: type("U", (), {"free": 10 * 2**20})())
    with pytest.raises(MergeError, match="Not enough disk space.* MB and 10 MB is free"):
        merge_gguf(starter_path, adapter, tmp_path / "out.gguf", "f16")
    assert not list(tmp_path.glob("out.gguf*"))
