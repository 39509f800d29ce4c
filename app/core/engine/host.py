"""Keeps at most one model loaded and swaps it on request. Owned by one thread (the engine thread or the CLI)."""

from __future__ import annotations

import logging
from pathlib import Path

from app.core.engine.backend import Backend, ModelLoadError
from app.log_setup import SHOWN

log = logging.getLogger(__name__)


BACKEND_CHOICES = ("auto", "llama.cpp", "transformers")


def resolve_backend(fmt: str, choice: str = "auto") -> str:
    """Which backend runs a model: HF folders need transformers; GGUF runs on llama.cpp unless asked otherwise."""
    return "transformers" if fmt == "hf" or choice == "transformers" else "llama.cpp"


class ModelHost:
    def __init__(self, n_threads: int = 1, n_ctx: int = 4096, n_gpu_layers: int = 0):
        self.n_threads, self.n_ctx, self.n_gpu_layers = n_threads, n_ctx, n_gpu_layers
        self.backend: Backend | None = None
        self.model_id: int | None = None

    def is_loaded(self, model_id: int) -> bool:
        return self.backend is not None and self.model_id == model_id

    @property
    def backend_kind(self) -> str | None:
        """The loaded model's backend ("llama.cpp" or "transformers"), None when nothing is loaded."""
        return self.backend.info.backend if self.backend is not None else None

    def load(self, model_id: int, path: str, name: str, fmt: str = "gguf", backend: str = "auto") -> Backend:
        """Load a model, unloading the previous one first so two never share memory.

        A Hugging Face folder ("hf") runs on transformers; a GGUF file runs on llama.cpp unless `backend` asks
        for "transformers" (it dequantises the file, as training does).
        """
        try:
            return self._load(model_id, path, name, fmt, backend)
        except ModelLoadError as exc:  # every caller shows the message; the log keeps it for a bug report
            log.warning("could not load %s (%s, %s): %s", name, path, backend, exc, extra={SHOWN: True})
            raise

    def _load(self, model_id: int, path: str, name: str, fmt: str, backend: str) -> Backend:
        if self.is_loaded(model_id) and resolve_backend(fmt, backend) == self.backend_kind:
            return self.backend
        self.unload()
        if fmt not in ("gguf", "hf"):
            raise ModelLoadError(
                f"{name}: the '{fmt}' format is not supported. Pick a GGUF file or a Hugging Face folder."
            )
        if backend not in BACKEND_CHOICES:
            raise ValueError(f"unknown backend {backend!r}; use 'auto', 'llama.cpp' or 'transformers'")
        if fmt == "hf" and backend == "llama.cpp":
            raise ModelLoadError(
                f"{name}: llama.cpp runs GGUF files only. Load the folder with transformers, or convert it to GGUF."
            )
        if not Path(path).exists():
            raise ModelLoadError(f"{name}: the model file {path} is missing. It may have been moved or deleted.")
        if fmt == "hf" or backend == "transformers":
            from app.core.engine.hf_backend import TransformersBackend

            self.backend = TransformersBackend(path, name=name, n_ctx=self.n_ctx, n_threads=self.n_threads)
        else:
            from app.core.engine.llama_backend import LlamaBackend

            self.backend = LlamaBackend(
                path, name=name, n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers
            )
        self.model_id = model_id
        log.info("loaded %s with %s in %.2fs", name, self.backend_kind, self.backend.info.load_s)
        return self.backend

    def unload(self) -> None:
        if self.backend is not None:
            self.backend.close()
        self.backend = None
        self.model_id = None
