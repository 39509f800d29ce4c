"""llama.cpp backend (llama-cpp-python) for GGUF files: the main inference path."""

from __future__ import annotations

import codecs
import gc
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from jinja2 import TemplateError

from app.core.engine.backend import AdapterRef, Backend, ChatMessage, LoadedModelInfo, ModelLoadError, StopCheck
from app.core.engine.chat_template import ChatTemplate
from app.core.engine.events import Failed, StreamEvent, TextDelta, finished
from app.core.engine.gguf_check import GGUFError, GGUFInfo, check_lora_adapter, inspect_gguf
from app.core.engine.params import GenerationParams


class StopStringFilter:
    """Holds back text that might be the start of a stop string, and cuts the reply where one completes."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to show, whether a stop string was hit)."""
        if not self.stops:
            return text, False
        self.pending += text
        cut = min((i for i in (self.pending.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self.pending = self.pending[:cut], ""
            return out, True
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(self.pending)), 0, -1):
                if self.pending.endswith(stop[:n]):
                    hold = max(hold, n)
                    break
        out = self.pending[: len(self.pending) - hold]
        self.pending = self.pending[len(out) :]
        return out, False

    def flush(self) -> str:
        out, self.pending = self.pending, ""
        return out


class LlamaBackend(Backend):
    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int = 1,
        n_gpu_layers: int = 0,
        gguf_info: GGUFInfo | None = None,
    ):
        started = time.perf_counter()
        path = Path(path)
        try:
            self.gguf = gguf_info or inspect_gguf(path)
        except GGUFError as exc:
            raise ModelLoadError(str(exc)) from exc
        from app.core.engine.cpu_layouts import open_llama

        trained = self.gguf.context_length or n_ctx
        try:
            self.llm = open_llama(
                model_path=str(path),
                n_ctx=min(n_ctx, trained),
                n_threads=n_threads,
                n_threads_batch=n_threads,
                n_gpu_layers=n_gpu_layers,
                verbose=False,
            )
        except TemplateError as exc:  # llama-cpp-python compiles the file's chat template while loading
            raise ModelLoadError(
                f"{path.name}: its chat template is broken ({exc}). The file is damaged or was converted wrongly; "
                "re-download it or pick another file."
            ) from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelLoadError(
                f"{path.name}: llama.cpp could not load this model ({exc}). The file may be damaged or use an "
                "architecture this version does not support; try another quantisation or update Hearth."
            ) from exc
        import llama_cpp

        self._is_eog = lambda tok: llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, tok)
        self._eog_ids: list[int] | None = None
        self._bos_id = self.llm.token_bos()
        bos = self._token_text(self._bos_id)
        eos = self._token_text(self.llm.token_eos())
        try:
            self.template = ChatTemplate(
                self.gguf.chat_template,
                bos_token=bos,
                eos_token=eos,
                origin="tokenizer.chat_template in the model file" if self.gguf.chat_template else "none in the model file",
            )
        except ValueError as exc:
            self.llm.close()
            raise ModelLoadError(
                f"{path.name}: {exc}. The file is damaged or was converted wrongly; re-download it or pick another file."
            ) from exc
        self._add_bos = bool(self.gguf.metadata.get("tokenizer.ggml.add_bos_token", False))
        self._adapters: dict[str, object] = {}  # GGUF adapter path -> llama.cpp handle, freed with the model
        self.info = LoadedModelInfo(
            name=name or self.gguf.name,
            path=str(path),
            backend="llama.cpp",
            n_ctx=self.llm.n_ctx(),
            template_name=self.template.name,
            template_origin=self.template.origin,
            load_s=time.perf_counter() - started,
        )

    def clear_cache(self) -> None:
        self.llm.reset()  # generate() then finds no common prefix to reuse

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", "replace")

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        prompt = self.template.render(messages)
        add_bos = self._add_bos and not self.template.starts_with_bos(prompt)
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=add_bos, special=True)

    def text_tokens(self, text: str) -> list[int]:
        """A raw prompt's tokens (no chat template), as llama.cpp's own completion endpoint tokenizes it."""
        return self.llm.tokenize(text.encode("utf-8"), add_bos=self._add_bos, special=True)

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, should_stop: StopCheck
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        tokens = self.checked_prompt(messages)
        if isinstance(tokens, Failed):
            yield tokens
            return
        yield from self.stream_tokens(tokens, params, should_stop, started)

    def stream_tokens(
        self, tokens: list[int], params: GenerationParams, should_stop: StopCheck, started: float | None = None
    ) -> Iterator[StreamEvent]:
        """Generate after a prompt already tokenized (and checked to fit): what `stream` does after the chat
        template, and what a raw completion (the API's /v1/completions) does directly."""
        started = started if started is not None else time.perf_counter()
        n_ctx = self.info.n_ctx
        try:
            grammar = self._grammar(params)
        except ValueError as exc:
            yield Failed(str(exc))
            return
        self.llm.set_seed(params.seed if params.seed >= 0 else random.randrange(2**31))
        generator = self.llm.generate(
            tokens,
            top_k=params.top_k,
            top_p=params.top_p,
            min_p=params.min_p,
            temp=params.temperature,
            repeat_penalty=params.repeat_penalty,
            presence_penalty=params.presence_penalty,
            frequency_penalty=params.frequency_penalty,
            logits_processor=self._bias_processor(params),
            grammar=grammar,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        stops = StopStringFilter(params.stop)
        pieces: list[str] = []
        completion = 0
        first_at = None
        reason = "length"
        budget = min(params.max_tokens, n_ctx - len(tokens))
        try:
            for token in generator:
                if first_at is None:
                    first_at = time.perf_counter()
                if self._is_eog(token):
                    reason = "stop"
                    break
                completion += 1
                text, hit = stops.feed(decoder.decode(self.llm.detokenize([token])))
                if text:
                    pieces.append(text)
                    yield TextDelta(text, completion, time.perf_counter() - first_at)
                if hit:
                    reason = "stop"
                    break
                if should_stop():
                    reason = "stopped"
                    break
                if completion >= budget:
                    reason = "length" if completion >= params.max_tokens else "context"
                    break
        finally:
            generator.close()
        if reason != "stop":
            tail = stops.flush() + decoder.decode(b"", final=True)
            if tail:
                pieces.append(tail)
                yield TextDelta(tail)
        yield finished(reason, len(tokens), completion, started, first_at, time.perf_counter(), pieces)

    def _grammar(self, params: GenerationParams):
        """The params' GBNF grammar for llama.cpp's sampler, checked first: llama-cpp-python adds whatever
        llama.cpp returns to the sampler chain, and a grammar llama.cpp cannot parse comes back as NULL, which
        would crash the process at the first token."""
        if not params.grammar:
            return None
        import llama_cpp
        from llama_cpp.llama_grammar import LlamaGrammar

        grammar = LlamaGrammar.from_string(params.grammar)
        probe = llama_cpp.llama_sampler_init_grammar(
            self.llm._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
        )
        if not probe:
            raise ValueError("llama.cpp could not parse the grammar for this reply (see the engine's log).")
        llama_cpp.llama_sampler_free(probe)
        return grammar

    def _end_tokens(self) -> list[int]:
        if self._eog_ids is None:  # one pass over the vocabulary, the first time a reply must not end
            self._eog_ids = [t for t in range(self.llm.n_vocab()) if self._is_eog(t)]
        return self._eog_ids

    def _bias_processor(self, params: GenerationParams):
        """A logits processor for llama-cpp-python's sampler chain (it runs first, on logits in vocabulary
        order), or None when there is nothing to bias."""
        if not (params.logit_bias or params.ignore_eos):
            return None
        bias = params.biases(self._end_tokens() if params.ignore_eos else (), self.llm.n_vocab())
        if not bias:
            return None
        import numpy as np

        ids = np.fromiter(bias, dtype=np.intc)
        values = np.fromiter(bias.values(), dtype=np.single)

        def add_bias(_input_ids, scores):
            scores[ids] += values
            return scores

        return [add_bias]

    def set_adapter(self, adapter: AdapterRef | None) -> None:
        """Attach a GGUF LoRA adapter to the loaded model, or detach it, in milliseconds (no reload).

        The file is checked first: llama-cpp-python does not report an adapter llama.cpp refused, and the next
        completion then crashes the process. The KV cache is reset, since it was computed with other weights.
        """
        import ctypes

        import llama_cpp

        if (adapter.id if adapter else None) == (self.adapter.id if self.adapter else None):
            return
        if adapter is None:
            status = llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
        else:
            handle = self._adapter_handle(adapter)
            handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
            status = llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, handles, 1, (ctypes.c_float * 1)(1.0))
        if status != 0:
            raise ModelLoadError(f"llama.cpp could not apply the adapter (status {status}).")
        self.llm.reset()
        self.adapter = adapter

    def _adapter_handle(self, adapter: AdapterRef):
        import llama_cpp

        if not adapter.gguf_path or not Path(adapter.gguf_path).is_file():
            raise ModelLoadError(f"The adapter {adapter.name} has no llama.cpp (GGUF) file; it can run on "
                                 "transformers only.")
        cached = self._adapters.get(adapter.gguf_path)
        if cached is not None:
            return cached
        try:
            check_lora_adapter(adapter.gguf_path, self.gguf.architecture)
        except GGUFError as exc:
            raise ModelLoadError(f"The adapter {adapter.name} cannot be used with {self.info.name}: {exc}") from exc
        handle = llama_cpp.llama_adapter_lora_init(self.llm._model.model, adapter.gguf_path.encode())
        if not handle:  # a NULL pointer: llama.cpp refused it (wrong shapes for this model)
            raise ModelLoadError(f"llama.cpp refused the adapter {adapter.name}: it was trained for another model.")
        self._adapters[adapter.gguf_path] = handle
        return handle

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()
            self.llm = None
        gc.collect()
