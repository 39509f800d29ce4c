"""The one interface every inference backend implements (llama.cpp now, transformers later)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from app.core.engine.events import Failed, StreamEvent
from app.core.engine.params import GenerationParams


class ModelLoadError(Exception):
    """A model could not be opened. The message says which file, what is wrong and what to do."""


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str
    id: int | None = None  # the stored message, so a trimmed context can say exactly what it left out


@dataclass(frozen=True)
class LoadedModelInfo:
    name: str
    path: str
    backend: str
    n_ctx: int
    template_name: str
    template_origin: str
    load_s: float


StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class AdapterRef:
    """A trained LoRA adapter to apply on top of the loaded model: GGUF form for llama.cpp, PEFT for transformers."""

    id: int
    name: str
    peft_dir: str
    gguf_path: str | None
    base_model_id: int | None


class Backend(ABC):
    """Owned by exactly one thread; nothing here is thread-safe."""

    info: LoadedModelInfo
    adapter: AdapterRef | None = None

    def set_adapter(self, adapter: AdapterRef | None) -> None:
        """Apply a LoRA adapter (None: back to the base model) without reloading. Raises ModelLoadError."""
        if adapter is not None:
            raise ModelLoadError(f"{self.info.backend} cannot apply LoRA adapters.")

    def clear_cache(self) -> None:
        """Forget the prompt evaluated last, so the next one is computed in full (the benchmark times that)."""

    @abstractmethod
    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The token ids of these messages once the chat template is applied. Raises ValueError if it fails."""

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.prompt_tokens(messages))

    def checked_prompt(self, messages: Sequence[ChatMessage]) -> list[int] | Failed:
        """The prompt's tokens, or the Failed event to yield when it cannot be built or does not fit."""
        try:
            tokens = self.prompt_tokens(messages)
        except ValueError as exc:
            return Failed(str(exc))
        if len(tokens) >= self.info.n_ctx:
            return Failed(f"The prompt needs {len(tokens)} tokens but the context holds {self.info.n_ctx}.")
        return tokens

    @abstractmethod
    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, should_stop: StopCheck
    ) -> Iterator[StreamEvent]:
        """Yield TextDelta events, then one Finished (or Failed). `should_stop` is checked after every token."""

    @abstractmethod
    def close(self) -> None:
        """Free the model's memory. The backend is unusable afterwards."""
