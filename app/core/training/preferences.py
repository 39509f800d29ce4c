"""Preference records: what a person preferred, for preference training (DPO on pairs, KTO on lone thumbs).

Two kinds, each with the prompt (the dialogue the model saw, ending with a user turn) and replies as text:
- `PreferencePair`: `chosen` was preferred to `rejected` (a correction over the reply it corrects, a thumbs-up
  version over a thumbs-down version of the same prompt, or a `prompt`/`chosen`/`rejected` line in a JSONL file);
- `Unpaired`: a lone rated reply, `desirable` or not.

`group` names the prompt a record comes from. The train / eval split is decided per group, so a held-out prompt
never lends a version of itself to training. In a run folder they are JSON lines (`train_prefs.jsonl`,
`eval_prefs.jsonl`), written by the app and read by the training child.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.core.training.examples import Turn
from app.core.training.tokenizer import Encoded, TrainingTokenizer


@dataclass(frozen=True)
class PreferencePair:
    prompt: tuple[Turn, ...]
    chosen: str
    rejected: str
    source: str  # "conversations", "API exchanges", a JSONL file name
    origin: str  # for a person: where exactly it came from
    group: str  # the prompt's identity, for the train / eval split

    kind = "pair"


@dataclass(frozen=True)
class Unpaired:
    prompt: tuple[Turn, ...]
    completion: str
    desirable: bool
    source: str
    origin: str
    group: str

    kind = "unpaired"


Preference = PreferencePair | Unpaired


@dataclass(frozen=True)
class EncodedPair:
    """Both replies after the same prompt tokens; `labels` mark the reply's tokens (and its end-of-turn marker)."""

    chosen: Encoded
    rejected: Encoded


@dataclass(frozen=True)
class EncodedUnpaired:
    encoded: Encoded
    desirable: bool


def _prompt_json(prompt: tuple[Turn, ...]) -> list[dict]:
    return [{"role": t.role, "content": t.content} for t in prompt]


def _prompt_turns(messages: list[dict]) -> tuple[Turn, ...]:
    return tuple(Turn(m["role"], m["content"]) for m in messages)


def to_json(record: Preference) -> dict:
    base = {"kind": record.kind, "prompt": _prompt_json(record.prompt), "source": record.source,
            "origin": record.origin, "group": record.group}
    if isinstance(record, PreferencePair):
        return {**base, "chosen": record.chosen, "rejected": record.rejected}
    return {**base, "completion": record.completion, "label": record.desirable}


def from_json(data: dict) -> Preference:
    prompt = _prompt_turns(data["prompt"])
    common = dict(source=data.get("source", ""), origin=data.get("origin", ""), group=data.get("group", ""))
    if data.get("kind", "pair") == "pair":
        return PreferencePair(prompt, data["chosen"], data["rejected"], **common)
    return Unpaired(prompt, data["completion"], bool(data["label"]), **common)


def write_preferences(path: Path, records: list[Preference]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(to_json(record), ensure_ascii=False) + "\n")
    return len(records)


def read_preferences(path: Path) -> list[Preference]:
    """A run folder's preference file; a missing file (a job from before preferences) has none."""
    path = Path(path)
    if not path.exists():
        return []
    return [from_json(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def encode_reply(tokenizer: TrainingTokenizer, prompt: tuple[Turn, ...], reply: str, max_length: int) -> Encoded:
    encoded = tokenizer.encode_turns((*prompt, Turn("assistant", reply, train=True)))
    return Encoded(encoded.input_ids[:max_length], encoded.labels[:max_length])


def encode(record: Preference, tokenizer: TrainingTokenizer, max_length: int) -> EncodedPair | EncodedUnpaired:
    if isinstance(record, PreferencePair):
        return EncodedPair(encode_reply(tokenizer, record.prompt, record.chosen, max_length),
                           encode_reply(tokenizer, record.prompt, record.rejected, max_length))
    return EncodedUnpaired(encode_reply(tokenizer, record.prompt, record.completion, max_length), record.desirable)
