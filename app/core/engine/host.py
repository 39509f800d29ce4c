"""Keeps at most one model loaded and swaps it on request. Owned by one thread (the engine thread or the CLI)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.core.engine.backend import Backend, ModelLoadError

log = logging.getLogger(__name__)


class ModelHost:
    def __init__(self, n_threads: int = 1, n_ctx: int = 4096, n_gpu_layers: int = 0):
        self.n_threads, self.n_ctx, self.n_gpu_layers = n_threads, n_ctx, n_gpu_layers
        self.backend: Backend | None = None
        self.model_id: int | None = None

    def is_loaded(self, model_id: int) -> bool:
        return self.backend is not None and self.model_id == model_id

    def load(self, model_id: int, path: str, name: str, fmt: str = "gguf") -> Backend:
        """Load a model, unloading the previous one first so two never share memory."""
        if self.is_loaded(model_id):
            return self.backend
        self.unload()
        if fmt != "gguf":
            raise ModelLoadError(f"{name}: the '{fmt}' format is not supported yet. Pick a GGUF model.")
        if not Path(path).exists():
            raise ModelLoadError(f"{name}: the model file {path} is missing. It may have been moved or deleted.")
        from app.core.engine.llama_backend import LlamaBackend

        self.backend = LlamaBackend(
            path, name=name, n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers
        )
        self.model_id = model_id
        log.info("loaded %s in %.2fs", name, self.backend.info.load_s)
        return self.backend

    def unload(self) -> None:
        if self.backend is not None:
            self.backend.close()
        self.backend = None
        self.model_id = None
