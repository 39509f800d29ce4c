"""GGUF tokenization for the window, done by its engine: the window's process never loads llama.cpp, and the
engine tokenizes with the same vocabulary the training child and chat use (app/service/vocab_routes.py).

`install(controller)` points the training tokenizer at the engine; it is called from a background thread (the
dataset preview), so the HTTP calls block that thread, never the event loop.
"""

from __future__ import annotations

from pathlib import Path

from app.core.training import tokenizer
from app.ui.engine.client import LOOPBACK_CLIENT, EngineRequestError, error_text

CACHED_TEXTS = 4096  # a preview encodes the same template pieces over and over


class RemoteVocab:
    def __init__(self, controller, path: Path):
        import httpx

        self.path = str(path)
        endpoint = controller.supervisor.endpoint()
        self.client = httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers(), timeout=30.0,
                                   **LOOPBACK_CLIENT)
        info = self._post("/hearth/v1/vocab", {"path": self.path})
        self.bos_id, self.bos_text, self.eos_text = int(info["bos_id"]), info["bos_text"], info["eos_text"]
        self._cache: dict[str, list[int]] = {}

    def _post(self, route: str, body: dict) -> dict:
        response = self.client.post(route, json=body)
        if response.status_code != 200:
            raise EngineRequestError(error_text(response))
        return response.json()

    def encode(self, text: str) -> list[int]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self._post("/hearth/v1/tokenize", {"path": self.path, "texts": [text]})["ids"][0]
            if len(self._cache) >= CACHED_TEXTS:
                self._cache.clear()
            self._cache[text] = ids
        return list(ids)

    def vocab(self) -> tokenizer.GGUFVocab:
        return tokenizer.GGUFVocab(self.encode, self.bos_id, self.bos_text, self.eos_text, self)


class _Provider:
    def __init__(self, controller):
        self.controller = controller

    def __call__(self, path: Path) -> tokenizer.GGUFVocab:
        return RemoteVocab(self.controller, path).vocab()


def install(controller) -> None:
    tokenizer.gguf_vocab_provider = _Provider(controller)


def uninstall(controller) -> None:
    """The controller is shutting down: GGUF tokenization is done here again (unless another window took over)."""
    provider = tokenizer.gguf_vocab_provider
    if isinstance(provider, _Provider) and provider.controller is controller:
        tokenizer.gguf_vocab_provider = tokenizer.llama_vocab
