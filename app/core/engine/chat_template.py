"""Renders a conversation with the model's own chat template (Jinja, as stored in the model file)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.engine.backend import ChatMessage

# Recognisable markers of the common template families, to name the template for the user.
_FAMILIES = (
    ("<|im_start|>", "ChatML"),
    ("<|start_header_id|>", "Llama 3"),
    ("<start_of_turn>", "Gemma"),
    ("[INST]", "Mistral / Llama 2"),
    ("<|user|>", "Phi / Zephyr"),
    ("<｜User｜>", "DeepSeek"),
    ("<|turn>", "Gemma 4"),
)

PLAIN_TRANSCRIPT = "plain transcript"


def family_name(template: str | None) -> str:
    if not template:
        return PLAIN_TRANSCRIPT
    for marker, name in _FAMILIES:
        if marker in template:
            return name
    return "custom"


@dataclass
class ChatTemplate:
    """A compiled template. `source` None means the model has none, and a plain transcript is used (and said so)."""

    source: str | None
    bos_token: str = ""
    eos_token: str = ""
    origin: str = ""

    def __post_init__(self) -> None:
        self.name = family_name(self.source)
        self._compiled = None
        if self.source:
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = _raise
            env.filters["tojson"] = _tojson
            env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
            try:
                self._compiled = env.from_string(self.source)
            except TemplateError as exc:
                raise ValueError(f"its chat template is broken ({exc})") from exc

    def render(self, messages: Sequence[ChatMessage], add_generation_prompt: bool = True) -> str:
        items = [{"role": m.role, "content": m.content} for m in messages]
        if self._compiled is None:
            lines = [f"{m['role'].capitalize()}: {m['content']}" for m in items]
            return "\n".join(lines) + ("\nAssistant:" if add_generation_prompt else "")
        try:
            return self._compiled.render(
                messages=items,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            )
        except TemplateError as exc:
            raise ValueError(f"The model's chat template failed on this conversation: {exc}") from exc

    def starts_with_bos(self, prompt: str) -> bool:
        return bool(self.bos_token) and prompt.startswith(self.bos_token)


def _raise(message: str):
    raise TemplateError(message)


def _tojson(value, indent=None):
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent)
