"""Valid GGUF files with real-looking headers and sparse (never written) weights, written with the `gguf` package.

Tests and benchmarks use them to build libraries of many "big" models cheaply, and the screenshot uses them for
sample data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_tiny_gguf(
    path: Path,
    *,
    name: str = "tiny",
    layers: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    context: int = 2048,
    vocab: int = 256,
    n_ff: int | None = None,
    file_type: int | None = None,
    sparse_bytes: int = 0,
    chat_template: str | None = "{% for m in messages %}{{ m['content'] }}{% endfor %}",
) -> Path:
    """A llama-shaped header with one real tensor, plus `sparse_bytes` of tensor data that is never written
    (a sparse file): a stand-in for a big model whose weights a listing must never read."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(name)
    writer.add_block_count(layers)
    writer.add_context_length(context)
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(n_ff or n_embd * 4)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if file_type is None else file_type)
    writer.add_vocab_size(vocab)
    if chat_template:
        writer.add_chat_template(chat_template)
    writer.add_tensor("token_embd.weight", np.zeros((4, n_embd), dtype=np.float32))
    if sparse_bytes and file_type == gguf.LlamaFileType.MOSTLY_Q4_K_M:
        # stored as Q4_K blocks (144 bytes per 256 weights), so the parameter count comes out realistic
        sparse_bytes -= sparse_bytes % 144
        writer.add_tensor_info(
            "blk.0.big.weight", (sparse_bytes,), np.dtype(np.uint8), sparse_bytes, raw_dtype=gguf.GGMLQuantizationType.Q4_K
        )
    elif sparse_bytes:
        writer.add_tensor_info("blk.0.big.weight", (sparse_bytes // 4,), np.dtype(np.float32), sparse_bytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    # Every tensor is zeros, so extending the file (sparsely) past the aligned header writes all the data
    # without materialising the big tensor.
    header = path.stat().st_size
    data_start = header + (-header % 32)
    data = n_embd * 4 * 4 + ((sparse_bytes + 31) // 32 * 32 if sparse_bytes else 0)
    with path.open("r+b") as fh:
        fh.truncate(data_start + data)
    return path
