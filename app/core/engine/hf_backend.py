"""transformers backend: Hugging Face safetensors folders, and GGUF files dequantised by transformers.
torch and transformers (the [train] extra) are imported only when a model is loaded."""

from __future__ import annotations

import ctypes
import functools
import gc
import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

from app.core.engine.backend import AdapterRef, Backend, ChatMessage, LoadedModelInfo, ModelLoadError, StopCheck
from app.core.engine.chat_template import family_name
from app.core.engine.events import Failed, StreamEvent, TextDelta, finished
from app.core.engine.gguf_check import GGUFError, inspect_gguf
from app.core.engine.llama_backend import StopStringFilter
from app.core.engine.params import GenerationParams

NEEDS_TRAIN_EXTRA = (
    "Running a model through transformers needs PyTorch and transformers, which come with Hearth's training "
    "extra. Install them with: pip install 'hearth[train]' — or chat with a GGUF model through llama.cpp instead."
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# llama.cpp's default penalty window, so both backends penalise the same recent tokens.
REPEAT_WINDOW = 64


def _import_stack():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelLoadError(NEEDS_TRAIN_EXTRA) from exc
    return torch, transformers


def check_hf_folder(path: Path) -> None:
    """Refuse what transformers should not be handed: no config.json, or weights only in pickle form."""
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"{path.name}: there is no config.json, so this is not a Hugging Face model folder.")
    if not any(path.glob("*.safetensors")):
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        why = (
            f" (only {', '.join(pickles)}: pickle files can run code when loaded, so Hearth does not open them)"
            if pickles
            else ""
        )
        raise ModelLoadError(
            f"{path.name}: the folder has no .safetensors weights{why}. "
            "Download the safetensors version of this model, or a GGUF file of it."
        )


@contextmanager
def _cached_gguf_name_maps():
    """transformers rebuilds gguf's tensor-name map for every module it walks (5 s of a 135M model's load);
    the map is a pure function of (architecture, layers), so it is cached for the length of one load."""
    import gguf

    original = getattr(gguf, "get_tensor_name_map", None)
    if original is None:
        yield
        return
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(original)
    try:
        yield
    finally:
        gguf.get_tensor_name_map = original


class IncrementalDecoder:
    """Turns a growing list of token ids into text pieces; a character split over tokens is held until complete.

    Decoding a short window (not one token at a time) keeps merged pieces and leading spaces right.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.prefix = self.read = 0

    def _text(self, start: int, end: int | None = None) -> str:
        return self.tokenizer.decode(self.ids[start:end], skip_special_tokens=True)

    def push(self, token: int) -> str:
        self.ids.append(token)
        before = self._text(self.prefix, self.read)
        after = self._text(self.prefix)
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        self.prefix, self.read = self.read, len(self.ids)
        return after[len(before) :]

    def flush(self) -> str:
        before, after = self._text(self.prefix, self.read), self._text(self.prefix)
        self.prefix = self.read = len(self.ids)
        return after[len(before) :]


class _BiasLogits:
    """Adds fixed biases to chosen tokens' logits, first in the chain as llama.cpp does (-inf bans a token)."""

    def __init__(self, bias: dict[int, float], torch, device):
        self.ids = torch.tensor(list(bias), device=device)
        self.values = torch.tensor(list(bias.values()), device=device)

    def __call__(self, input_ids, scores):
        scores[:, self.ids] += self.values
        return scores


class TransformersBackend(Backend):
    """`path` is a Hugging Face folder (safetensors) or a .gguf file, which transformers dequantises."""

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        n_ctx: int = 4096,
        n_threads: int = 0,
        device: str | None = None,
    ):
        started = time.perf_counter()
        path = Path(path)
        gguf_file = path.is_file()
        if gguf_file:
            try:
                arch = inspect_gguf(path).architecture
            except GGUFError as exc:
                raise ModelLoadError(str(exc)) from exc
        elif path.is_dir():
            check_hf_folder(path)
        else:
            raise ModelLoadError(f"{path}: no such model file or folder. It may have been moved or deleted.")
        torch, transformers = _import_stack()
        if gguf_file:
            try:
                from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES as supported
            except ImportError:  # moved in some release: let from_pretrained judge (and fail readably below)
                supported = (arch,)
            if arch not in supported:
                raise ModelLoadError(
                    f"{path.name}: transformers {transformers.__version__} cannot read '{arch}' models from GGUF. "
                    "Chat with it through llama.cpp, or use the model's Hugging Face folder."
                )
        self.torch = torch
        if n_threads > 0:
            torch.set_num_threads(n_threads)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        source = path.parent if gguf_file else path
        common = {"local_files_only": True, "trust_remote_code": False}
        if gguf_file:
            common["gguf_file"] = path.name
        progress = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()  # nobody reads tqdm bars on the app's stderr
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(source, **common)
            self.template_source = self._template_text(path.name)
            with _cached_gguf_name_maps() if gguf_file else nullcontext():
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    source, dtype=dtype, use_safetensors=None if gguf_file else True, **common
                )
            self.model = model.to(self.device).eval()
        except ModelLoadError:
            raise
        except (ValueError, OSError, RuntimeError, KeyError, TypeError, NotImplementedError, ImportError) as exc:
            raise ModelLoadError(
                f"{path.name}: transformers could not load this model ({exc}). The files may be incomplete, or the "
                "architecture needs a newer transformers; re-download it or try its GGUF through llama.cpp."
            ) from exc
        finally:
            if progress:
                transformers.utils.logging.enable_progress_bar()
        self.eos_ids = self._end_tokens()
        trained = getattr(self.model.config, "max_position_embeddings", None) or n_ctx
        self.info = LoadedModelInfo(
            name=name or (path.stem if gguf_file else path.name),
            path=str(path),
            backend="transformers",
            n_ctx=min(n_ctx, trained),
            template_name=family_name(self.template_source),
            template_origin=self._template_origin(path, gguf_file),
            load_s=time.perf_counter() - started,
        )

    def _template_text(self, label: str) -> str:
        template = self.tokenizer.chat_template
        if isinstance(template, dict):  # several named templates: the default one is the chat one
            template = template.get("default")
        if not template:
            raise ModelLoadError(
                f"{label}: the model has no chat template, so Hearth cannot tell how it expects "
                "a conversation to be written. Use the instruct/chat version of this model."
            )
        return template

    @staticmethod
    def _template_origin(path: Path, gguf_file: bool) -> str:
        if gguf_file:
            return "tokenizer.chat_template in the model file"
        if (path / "chat_template.jinja").is_file():
            return "chat_template.jinja in the model folder"
        return "tokenizer_config.json in the model folder"

    def _end_tokens(self) -> set[int]:
        ids = set()
        for value in (self.model.generation_config.eos_token_id, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif value:
                ids.update(int(v) for v in value)
        return ids

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt text the model sees, from its own chat template."""
        from jinja2 import TemplateError

        items = [{"role": m.role, "content": m.content} for m in messages]
        try:
            return self.tokenizer.apply_chat_template(
                items, chat_template=self.template_source, tokenize=False, add_generation_prompt=True
            )
        except TemplateError as exc:
            raise ValueError(f"The model's chat template failed on this conversation: {exc}") from exc

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        # The template writes any BOS itself, as transformers' own apply_chat_template(tokenize=True) assumes.
        return self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"]

    def _processors(self, params: GenerationParams):
        """llama.cpp's sampling order: penalty, top-k, top-p, min-p, then temperature."""
        from transformers.generation import logits_process as lp

        chain = []
        bias = params.biases(self.eos_ids, self.model.get_output_embeddings().weight.shape[0])
        if bias:
            chain.append(_BiasLogits(bias, self.torch, self.device))
        if params.repeat_penalty > 0 and params.repeat_penalty != 1.0:
            chain.append(lp.RepetitionPenaltyLogitsProcessor(params.repeat_penalty))
        if params.temperature > 0:
            if params.top_k > 0:
                chain.append(lp.TopKLogitsWarper(params.top_k))
            if 0 < params.top_p < 1:
                chain.append(lp.TopPLogitsWarper(params.top_p))
            if 0 < params.min_p <= 1:
                chain.append(lp.MinPLogitsWarper(params.min_p))
            chain.append(lp.TemperatureLogitsWarper(params.temperature))
        return lp.LogitsProcessorList(chain)

    def _next_token(self, input_ids: list[int], cache, recent: list[int], processors, params, generator):
        """One forward pass over the new ids, then one sampled token; returns (token, cache)."""
        torch = self.torch
        with torch.inference_mode():
            ids = torch.tensor([input_ids], device=self.device)
            out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            logits = out.logits[:, -1, :].float()
            window = torch.tensor([recent[-REPEAT_WINDOW:]], device=self.device)
            logits = processors(window, logits)
            if params.temperature <= 0:
                token = int(logits.argmax(dim=-1))
            else:
                probs = torch.softmax(logits, dim=-1)
                token = int(torch.multinomial(probs, 1, generator=generator))
        return token, out.past_key_values

    def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams, should_stop: StopCheck
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        if params.needs_llama_cpp:
            yield Failed(f"The transformers backend cannot apply {params.needs_llama_cpp}; load a GGUF model "
                         "with llama.cpp for that.")
            return
        tokens = self.checked_prompt(messages)
        if isinstance(tokens, Failed):
            yield tokens
            return
        n_ctx = self.info.n_ctx
        generator = self.torch.Generator(device=self.device)
        generator.manual_seed(params.seed if params.seed >= 0 else random.randrange(2**31))
        processors = self._processors(params)
        decoder = IncrementalDecoder(self.tokenizer)
        stops = StopStringFilter(params.stop)
        recent, feed, cache = list(tokens), tokens, None
        pieces: list[str] = []
        completion = 0
        first_at = None
        reason = "length"
        budget = min(params.max_tokens, n_ctx - len(tokens))
        try:
            while True:
                token, cache = self._next_token(feed, cache, recent, processors, params, generator)
                if first_at is None:
                    first_at = time.perf_counter()
                if token in self.eos_ids:
                    reason = "stop"
                    break
                completion += 1
                recent.append(token)
                feed = [token]
                text, hit = stops.feed(decoder.push(token))
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
        except RuntimeError as exc:  # torch reports out-of-memory and device faults this way
            yield Failed(f"Generation failed on {self.device}: {exc}. Try a shorter conversation or a smaller model.")
            return
        finally:
            del cache
        if reason != "stop":
            tail = stops.flush() + decoder.flush()
            if tail:
                pieces.append(tail)
                yield TextDelta(tail)
        yield finished(reason, len(tokens), completion, started, first_at, time.perf_counter(), pieces)

    def set_adapter(self, adapter: AdapterRef | None) -> None:
        """Wrap the model in the PEFT adapter (or unwrap it); the base weights stay as they are."""
        if (adapter.id if adapter else None) == (self.adapter.id if self.adapter else None):
            return
        if self.adapter is not None:
            self.model = self.model.unload()  # removes the LoRA layers, leaving the untouched base
            self.adapter = None
        if adapter is None:
            return
        if not (Path(adapter.peft_dir) / "adapter_config.json").is_file():
            raise ModelLoadError(f"The adapter {adapter.name} is missing its PEFT files ({adapter.peft_dir}).")
        from peft import PeftModel

        try:
            self.model = PeftModel.from_pretrained(self.model, adapter.peft_dir).eval()
        except (ValueError, RuntimeError, KeyError, OSError) as exc:
            raise ModelLoadError(f"The adapter {adapter.name} does not fit {self.info.name}: {exc}") from exc
        self.adapter = adapter

    def close(self) -> None:
        if getattr(self, "model", None) is None:
            return
        self.model = None
        self.tokenizer = None
        gc.collect()
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()
        if sys.platform.startswith("linux"):  # glibc keeps the freed weights' pages; give them back to the system
            try:
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            except (OSError, AttributeError):
                pass
