"""A real, tiny LoRA adapter for the starter model, made in a moment instead of trained: one rank-1 pair on the
first layer's q projection, converted to GGUF by the app's own converter, registered like a trained one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from app.core.library.registry import default_model
from app.core.storage.models import Adapter
from app.core.training.lora_gguf import convert_adapter


def register_tiny_adapter(core, folder: Path, name: str) -> int:
    """Its lora_b is zero, so replies are the base model's: a test about showing the adapter, not about its effect."""
    from safetensors.numpy import save_file

    with core.db.session() as session:
        base = default_model(session)
        base_id, info = base.id, dict(base.info)
    peft_dir = folder / "adapter"
    peft_dir.mkdir(parents=True)
    n_embd, rank = info["n_embd"], 1
    (peft_dir / "adapter_config.json").write_text(json.dumps({"r": rank, "lora_alpha": 1, "peft_type": "LORA"}))
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    save_file({f"{prefix}.lora_A.weight": np.full((rank, n_embd), 0.01, dtype=np.float32),
               f"{prefix}.lora_B.weight": np.zeros((n_embd, rank), dtype=np.float32)},
              str(peft_dir / "adapter_model.safetensors"))
    gguf_path = convert_adapter(peft_dir, folder / "adapter.gguf", architecture=info["architecture"],
                                n_layers=info["layers"], n_head=info["n_head"], n_head_kv=info["n_head_kv"])
    with core.db.session() as session:
        row = Adapter(name=name, base_model_id=base_id, base_name="starter", peft_dir=str(peft_dir),
                      gguf_path=str(gguf_path))
        session.add(row)
        session.flush()
        return row.id
