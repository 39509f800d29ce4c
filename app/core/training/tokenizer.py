"""Chat turns to token ids and a learn-from mask, with the base model's own chat template and tokenizer.

For a GGUF base the tokenizer is llama.cpp's, loaded vocabulary-only (no weights, a fraction of a second), in
the app for the dataset preview and in the training child alike: the adapter is trained on exactly the tokens
llama.cpp will feed it in chat. For a Hugging Face folder it is the folder's tokenizer.json through `tokenizers`.
Neither needs torch or transformers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.core.engine.backend import ChatMessage
from app.core.engine.chat_template import ChatTemplate
from app.core.training.examples import Turn

IGNORE = -100  # the label that tells the loss to skip a token


class TemplateMismatch(ValueError):
    """The template renders earlier turns differently once later ones exist, so reply spans cannot be found."""


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


class TrainingTokenizer:
    def __init__(self, encode, template: ChatTemplate, bos_id: int | None, add_bos: bool, name: str):
        self._encode = encode
        self.template = template
        self.bos_id = bos_id
        self.add_bos = add_bos
        self.name = name

    @classmethod
    def for_model(cls, path: str | Path, fmt: str) -> TrainingTokenizer:
        path = Path(path)
        return _for_gguf(path) if fmt == "gguf" else _for_hf_folder(path)

    def encode(self, text: str) -> list[int]:
        return self._encode(text) if text else []

    def spans(self, turns: tuple[Turn, ...]) -> list[tuple[str, bool]]:
        """The rendered conversation cut into (text, learn-from) pieces: each trained reply, with the template's
        end-of-turn marker so the model learns to stop, is its own piece."""
        messages = [ChatMessage(t.role, t.content) for t in turns]
        full = self.template.render(messages, add_generation_prompt=False)
        pieces, pos = [], 0
        for i, turn in enumerate(turns):
            if turn.role != "assistant":
                continue
            prompt = self.template.render(messages[:i], add_generation_prompt=True)
            through = self.template.render(messages[: i + 1], add_generation_prompt=False)
            if not (through.startswith(prompt) and full.startswith(through) and len(prompt) >= pos):
                raise TemplateMismatch(
                    f"the {self.template.name} template rewrites earlier turns, so reply {i} cannot be located"
                )
            pieces.append((full[pos : len(prompt)], False))
            pieces.append((full[len(prompt) : len(through)], turn.train))
            pos = len(through)
        pieces.append((full[pos:], False))
        return [(text, train) for text, train in pieces if text]

    def encode_turns(self, turns: tuple[Turn, ...]) -> Encoded:
        ids: list[int] = []
        labels: list[int] = []
        pieces = self.spans(turns)
        if self.add_bos and self.bos_id is not None and not self.template.starts_with_bos(pieces[0][0]):
            ids.append(self.bos_id)
            labels.append(IGNORE)
        for text, train in pieces:
            tokens = self.encode(text)
            ids += tokens
            labels += tokens if train else [IGNORE] * len(tokens)
        return Encoded(ids, labels)


@dataclass
class GGUFVocab:
    """llama.cpp's tokenizer of a GGUF file: what a training tokenizer needs of it."""

    encode: Callable[[str], list[int]]  # text to ids, special tokens parsed, no BOS added
    bos_id: int  # -1 when the model has none
    bos_text: str
    eos_text: str
    keep: object = None  # whatever must stay alive while `encode` is used


def llama_vocab(path: Path) -> GGUFVocab:
    """The vocabulary loaded here, without weights (a fraction of a second)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def text_of(token: int) -> str:
        return llm.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    def encode(text: str) -> list[int]:
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    return GGUFVocab(encode, llm.token_bos(), text_of(llm.token_bos()), text_of(llm.token_eos()), llm)


# Where GGUF vocabularies come from. The window's process never loads llama.cpp: it sets this to ask its engine
# (app/ui/engine/remote_vocab.py), which tokenizes with the same llama.cpp vocabulary.
gguf_vocab_provider: Callable[[Path], GGUFVocab] = llama_vocab


def _for_gguf(path: Path) -> TrainingTokenizer:
    from app.core.engine.gguf_check import inspect_gguf

    info = inspect_gguf(path)
    vocab = gguf_vocab_provider(path)
    template = ChatTemplate(info.chat_template, bos_token=vocab.bos_text, eos_token=vocab.eos_text,
                            origin="tokenizer.chat_template in the model file")
    add_bos = bool(info.metadata.get("tokenizer.ggml.add_bos_token", False))
    tok = TrainingTokenizer(vocab.encode, template, vocab.bos_id if vocab.bos_id >= 0 else None, add_bos, path.name)
    tok._keep = vocab.keep  # the vocabulary (llama.cpp's, or the engine's client) lives as long as the tokenizer
    return tok


def _special(config: dict, key: str) -> str:
    value = config.get(key) or ""
    return value.get("content", "") if isinstance(value, dict) else str(value)


def _for_hf_folder(path: Path) -> TrainingTokenizer:
    from tokenizers import Tokenizer

    tokenizer_file = path / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise FileNotFoundError(f"{path.name} has no tokenizer.json, which training needs.")
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    config = {}
    config_file = path / "tokenizer_config.json"
    if config_file.is_file():
        config = json.loads(config_file.read_text(encoding="utf-8"))
    source = config.get("chat_template")
    jinja_file = path / "chat_template.jinja"
    if jinja_file.is_file():
        source = jinja_file.read_text(encoding="utf-8")
    if isinstance(source, list):  # several named templates: the default one
        source = next((t.get("template") for t in source if t.get("name") == "default"), None)
    bos, eos = _special(config, "bos_token"), _special(config, "eos_token")
    template = ChatTemplate(source, bos_token=bos, eos_token=eos, origin="the model folder's tokenizer config")
    bos_id = tokenizer.token_to_id(bos) if bos else None
    add_bos = bool(config.get("add_bos_token", False))

    def encode(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False).ids

    return TrainingTokenizer(encode, template, bos_id, add_bos, path.name)
