"""The dataset builder: sources combined, de-duplicated, rendered and tokenized, cut or dropped to the maximum
length, and split into train and eval with a fixed seed. The same code runs in the app (preview, export) and in
the training child (which reads the train / eval files the app wrote), so both see the same tokens.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.core.training.examples import Example, Problem, SourceResult, from_conversations, from_jsonl, from_writing
from app.core.training.tokenizer import Encoded, TemplateMismatch, TrainingTokenizer

MIN_EVAL = 2  # fewer held-out examples than this make a meaningless eval loss
OVERFLOW_CHOICES = ("cut", "drop")


class DatasetError(ValueError):
    """Nothing to train on; the message says why and what to do, and `problems` lists every bad input."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass
class DatasetSpec:
    """What to build from. Stored in the job file, so a job can be rebuilt and shown later."""

    conversations: bool = True
    api_conversations: bool = False  # rated replies kept from the OpenAI-compatible API ("Keep API conversations")
    min_rating: int = 1
    conversation_ids: list[int] | None = None  # None: every conversation
    jsonl_files: list[str] = field(default_factory=list)
    writing_folder: str | None = None
    max_length: int = 512
    overflow: str = "cut"  # "cut": keep the first max_length tokens; "drop": leave the example out
    eval_fraction: float = 0.1
    seed: int = 42

    @classmethod
    def from_dict(cls, data: dict) -> DatasetSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Item:
    example: Example
    encoded: Encoded
    cut: bool = False


@dataclass
class BuiltDataset:
    train: list[Item]
    eval: list[Item]
    problems: list[Problem]
    per_source: Counter
    duplicates: int = 0
    cut: int = 0
    dropped: int = 0
    eval_is_train: bool = False  # too few examples to hold some out: eval loss is measured on the training set
    eval_requested: bool = True  # False when building only for export (no split)

    @property
    def items(self) -> list[Item]:
        return self.train + ([] if self.eval_is_train else self.eval)

    def lengths(self) -> list[int]:
        return [len(i.encoded.input_ids) for i in self.items]

    def histogram(self, bins: int = 12) -> list[tuple[int, int, int]]:
        """(from, to, count) over token lengths, for the preview chart."""
        lengths = self.lengths()
        if not lengths:
            return []
        top = max(lengths)
        width = max(1, -(-top // bins))
        counts = Counter(min(n // width, bins - 1) for n in lengths)
        return [(b * width, (b + 1) * width - 1, counts.get(b, 0)) for b in range(bins)]

    def summary(self) -> str:
        sources = ", ".join(f"{n} from {s}" for s, n in sorted(self.per_source.items())) or "none"
        if not self.eval_requested:
            lines = [f"{len(self.train)} examples ({sources})."]
        elif self.eval_is_train:
            lines = [f"{len(self.train)} training examples ({sources}).",
                     "Too few to hold some out: the eval loss is measured on the training examples."]
        else:
            lines = [f"{len(self.train)} training and {len(self.eval)} eval examples ({sources})."]
        notes = []
        if self.duplicates:
            notes.append(f"{self.duplicates} duplicate{'s' if self.duplicates > 1 else ''} removed")
        if self.cut:
            notes.append(f"{self.cut} cut to the maximum length")
        if self.dropped:
            notes.append(f"{self.dropped} left out as too long")
        if self.problems:
            notes.append(f"{len(self.problems)} problem{'s' if len(self.problems) > 1 else ''} (listed below)")
        if notes:
            lines.append("; ".join(notes).capitalize() + ".")
        return "\n".join(lines)

    def write_jsonl(self, path: Path, items: list[Item] | None = None) -> int:
        """OpenAI-style JSONL (assistant messages carry `weight`): the export, and the files the child reads."""
        items = self.items if items is None else items
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            for item in items:
                out.write(json.dumps(item.example.to_openai(), ensure_ascii=False) + "\n")
        return len(items)


def collect(spec: DatasetSpec, session=None) -> SourceResult:
    """Every source the spec names, combined."""
    combined = SourceResult()
    parts = []
    if spec.conversations and session is not None:
        parts.append(from_conversations(session, min_rating=spec.min_rating, conversation_ids=spec.conversation_ids))
    if spec.api_conversations and session is not None:
        parts.append(from_conversations(session, min_rating=spec.min_rating, api=True))
    parts += [from_jsonl(Path(f)) for f in spec.jsonl_files]
    if spec.writing_folder:
        parts.append(from_writing(Path(spec.writing_folder)))
    for part in parts:
        combined.examples += part.examples
        combined.problems += part.problems
    return combined


def build(spec: DatasetSpec, tokenizer: TrainingTokenizer, session=None, source: SourceResult | None = None) -> BuiltDataset:
    """Raises DatasetError when nothing is left to train on (with the problems that explain why)."""
    source = source or collect(spec, session)
    problems = list(source.problems)
    seen, unique = set(), []
    for example in source.examples:
        key = example.key()
        if key not in seen:
            seen.add(key)
            unique.append(example)
    items, cut, dropped = [], 0, 0
    for example in unique:
        try:
            encoded = tokenizer.encode_turns(example.turns)
        except (TemplateMismatch, ValueError) as exc:
            problems.append(Problem(example.origin, str(exc)))
            continue
        was_cut = False
        if len(encoded.input_ids) > spec.max_length:
            if spec.overflow == "drop":
                dropped += 1
                continue
            encoded = Encoded(encoded.input_ids[: spec.max_length], encoded.labels[: spec.max_length])
            was_cut = True
            if not encoded.trained:
                problems.append(Problem(example.origin, f"the reply starts after token {spec.max_length}, so "
                                        "nothing is left to learn once cut; raise the maximum length"))
                continue
            cut += 1
        items.append(Item(example, encoded, was_cut))
    if not items:
        raise DatasetError(_empty_reason(spec, problems, dropped), problems)
    rng = random.Random(spec.seed)
    rng.shuffle(items)
    n_eval = round(len(items) * spec.eval_fraction) if spec.eval_fraction > 0 else 0
    eval_is_train = n_eval < MIN_EVAL
    if eval_is_train:
        train, held = items, list(items)
    else:
        train, held = items[n_eval:], items[:n_eval]
    per_source = Counter(i.example.source for i in items)
    return BuiltDataset(train, held, problems, per_source, len(source.examples) - len(unique), cut, dropped,
                        eval_is_train, spec.eval_fraction > 0)


def _empty_reason(spec: DatasetSpec, problems: list[Problem], dropped: int) -> str:
    if dropped:
        return (f"No training examples: all {dropped} were longer than {spec.max_length} tokens. Raise the "
                "maximum length or choose “cut”.")
    if problems:
        return f"No usable training examples: {len(problems)} problem(s), the first: {problems[0]}"
    return ("No training examples yet. Rate some replies in Chat (thumbs up), correct the ones you would have "
            "answered differently, or add a JSONL file or a folder of your writing.")


def read_jsonl_items(path: Path, tokenizer: TrainingTokenizer, max_length: int) -> list[Encoded]:
    """What the training child reads: the app's train / eval file, tokenized and cut the same way."""
    result = from_jsonl(path)
    if result.problems:
        raise DatasetError(f"The prepared dataset is damaged: {result.problems[0]}", result.problems)
    encoded = [tokenizer.encode_turns(e.turns) for e in result.examples]
    return [Encoded(e.input_ids[:max_length], e.labels[:max_length]) for e in encoded]
