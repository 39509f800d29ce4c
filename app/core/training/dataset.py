"""The dataset builder: sources combined, de-duplicated, rendered and tokenized, cut or dropped to the maximum
length, and split into train and eval per prompt (split.py). Examples to imitate and preference records (pairs,
lone thumbs-down) are built side by side and split together. The same code runs in the app (preview, export) and
in the training child (which reads the train / eval files the app wrote), so both see the same tokens.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.core.training.examples import Example, Problem, SourceResult, from_conversations, from_jsonl, from_writing
from app.core.training.preference_sources import from_feedback, from_jsonl_with_preferences
from app.core.training.preferences import (
    EncodedPair, EncodedUnpaired, Preference, PreferencePair, encode, to_json,
)
from app.core.training.split import MIN_EVAL, earlier_held_out, held_out_groups
from app.core.training.tokenizer import Encoded, TemplateMismatch, TrainingTokenizer

OVERFLOW_CHOICES = ("cut", "drop")
__all__ = ["MIN_EVAL", "BuiltDataset", "DatasetError", "DatasetSpec", "build", "collect", "read_jsonl_items"]


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
class PreferenceItem:
    record: Preference
    encoded: EncodedPair | EncodedUnpaired
    cut: bool = False


@dataclass
class SourceCounts:
    """What one source gave, for the preview."""

    sft: int = 0  # examples to imitate (thumbs-up replies, corrections, file lines, writing)
    pairs: int = 0  # a preferred and a less preferred reply to one prompt
    unpaired_up: int = 0  # lone thumbs-up: no worse version of the prompt stands against it (imitated, so also in sft)
    unpaired_down: int = 0  # lone thumbs-down: no correction and no preferred version

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BuiltDataset:
    train: list[Item]
    eval: list[Item]
    problems: list[Problem]
    per_source: Counter  # examples to imitate per source (`counts` has the rest)
    duplicates: int = 0
    cut: int = 0
    dropped: int = 0
    eval_is_train: bool = False  # too few examples to hold some out: eval loss is measured on the training set
    eval_requested: bool = True  # False when building only for export (no split)
    train_pref_items: list[PreferenceItem] = field(default_factory=list)
    eval_pref_items: list[PreferenceItem] = field(default_factory=list)  # held out: preference accuracy
    counts: dict[str, SourceCounts] = field(default_factory=dict)
    held_out: set[str] = field(default_factory=set)  # the groups (prompts) kept out of training

    @property
    def items(self) -> list[Item]:
        return self.train + ([] if self.eval_is_train else self.eval)

    @property
    def train_prefs(self) -> list[Preference]:
        return [p.record for p in self.train_pref_items]

    @property
    def eval_prefs(self) -> list[Preference]:
        return [p.record for p in self.eval_pref_items]

    def pair_count(self, held_out: bool | None = None) -> int:
        """Pairs in training (False), held out (True) or both (None)."""
        items = {False: self.train_pref_items, True: self.eval_pref_items}.get(held_out)
        items = self.train_pref_items + self.eval_pref_items if items is None else items
        return sum(isinstance(p.record, PreferencePair) for p in items)

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
        if not self.train and not self.eval:
            lines = ["No replies to imitate: the job learns from preferences only."]
        elif not self.eval_requested:
            lines = [f"{len(self.train)} examples ({sources})."]
        elif self.eval_is_train:
            lines = [f"{len(self.train)} training examples ({sources}).",
                     "Too few to hold some out: the eval loss is measured on the training examples."]
        else:
            lines = [f"{len(self.train)} training and {len(self.eval)} eval examples ({sources})."]
        lines += self._preference_lines()
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

    def _preference_lines(self) -> list[str]:
        pairs, held = self.pair_count(), self.pair_count(held_out=True)
        downs = sum(c.unpaired_down for c in self.counts.values())
        lines = []
        if pairs:
            line = f"{_plural(pairs, 'preference pair')} (a preferred and a worse reply to one prompt)"
            if held:
                line += f", {held} held out to measure preference accuracy"
            elif self.eval_requested:
                line += ", too few to hold some out: preference accuracy is not measured"
            lines.append(line + ".")
        if downs:
            lines.append(f"{_plural(downs, 'thumbs-down reply', 'thumbs-down replies')} with no better version, "
                         "made less likely.")
        return lines

    def write_jsonl(self, path: Path, items: list[Item] | None = None) -> int:
        """OpenAI-style JSONL (assistant messages carry `weight`): the files the child reads (`items` given), and
        the export (all examples, then the preferences in TRL's conversational form, which import reads back)."""
        lines = [item.example.to_openai() for item in (self.items if items is None else items)]
        if items is None:
            lines += [_trl_line(p) for p in self.train_prefs + self.eval_prefs]
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        return len(lines)


def _trl_line(record: Preference) -> dict:
    """TRL's conversational preference form: a pair (DPO) or a rated reply (KTO)."""
    prompt = [{"role": t.role, "content": t.content} for t in record.prompt]
    if isinstance(record, PreferencePair):
        return {"prompt": prompt, "chosen": [{"role": "assistant", "content": record.chosen}],
                "rejected": [{"role": "assistant", "content": record.rejected}]}
    return {"prompt": prompt, "completion": [{"role": "assistant", "content": record.completion}],
            "label": record.desirable}


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def collect(spec: DatasetSpec, session=None) -> SourceResult:
    """Every source the spec names, combined: examples to imitate and preference records."""
    combined = SourceResult()
    parts = []
    chats = [(spec.conversations, False, spec.conversation_ids), (spec.api_conversations, True, None)]
    for wanted, api, ids in chats:
        if wanted and session is not None:
            parts.append(from_conversations(session, min_rating=spec.min_rating, conversation_ids=ids, api=api))
            parts.append(from_feedback(session, min_rating=spec.min_rating, conversation_ids=ids, api=api))
    parts += [from_jsonl_with_preferences(Path(f)) for f in spec.jsonl_files]
    if spec.writing_folder:
        parts.append(from_writing(Path(spec.writing_folder)))
    for part in parts:
        combined.examples += part.examples
        combined.problems += part.problems
        combined.preferences += part.preferences
    return combined


def _unique(records: list, key) -> list:
    seen, unique = set(), []
    for record in records:
        k = key(record)
        if k not in seen:
            seen.add(k)
            unique.append(record)
    return unique


def _preference_key(record: Preference) -> str:
    """The same prompt and replies, whatever the origin."""
    data = to_json(record)
    return json.dumps([data[k] for k in sorted(data) if k not in ("source", "origin", "group")], ensure_ascii=False)


def build(spec: DatasetSpec, tokenizer: TrainingTokenizer, session=None, source: SourceResult | None = None,
          held_before: Iterable[str] | None = None) -> BuiltDataset:
    """Raises DatasetError when nothing is left to train on (with the problems that explain why). `held_before`:
    groups earlier jobs held out (read from the job rows when a session is given), which stay held out."""
    source = source or collect(spec, session)
    problems = list(source.problems)
    examples = _unique(source.examples, Example.key)
    records = _unique(source.preferences, _preference_key)
    duplicates = len(source.examples) - len(examples) + len(source.preferences) - len(records)
    items, prefs, cut, dropped = [], [], 0, 0
    for example in examples:
        try:
            encoded = tokenizer.encode_turns(example.turns)
        except (TemplateMismatch, ValueError) as exc:
            problems.append(Problem(example.origin, str(exc)))
            continue
        kept = _fit(encoded, spec, example.origin, problems)
        if kept is not None:
            cut += kept.cut
            items.append(Item(example, kept.encoded, kept.cut))
        else:
            dropped += spec.overflow == "drop"  # else cutting left no reply, a problem already listed
    for record in records:
        try:
            encoded = encode(record, tokenizer, max_length=sys.maxsize)
        except (TemplateMismatch, ValueError) as exc:
            problems.append(Problem(record.origin, str(exc)))
            continue
        sequences = (encoded.chosen, encoded.rejected) if isinstance(encoded, EncodedPair) else (encoded.encoded,)
        kept = [_fit(e, spec, record.origin, problems) for e in sequences]
        if any(k is None for k in kept):
            dropped += spec.overflow == "drop"
            continue
        if len(kept) == 2 and kept[0].encoded.input_ids == kept[1].encoded.input_ids:
            problems.append(Problem(record.origin, f"the two replies are the same in their first {spec.max_length} "
                                    "tokens, so nothing is preferred; raise the maximum length"))
            continue
        cut += any(k.cut for k in kept)
        prefs.append(PreferenceItem(record, EncodedPair(kept[0].encoded, kept[1].encoded) if len(kept) == 2
                                    else EncodedUnpaired(kept[0].encoded, record.desirable), any(k.cut for k in kept)))
    if not items and not prefs:
        raise DatasetError(_empty_reason(spec, problems, dropped), problems)
    if held_before is None:
        held_before = earlier_held_out(session) if session is not None else ()
    built = BuiltDataset([], [], problems, Counter(i.example.source for i in items), duplicates, cut, dropped,
                         eval_requested=spec.eval_fraction > 0, counts=_counts(items, prefs))
    _split(built, items, prefs, spec, set(held_before))
    return built


@dataclass
class _Kept:
    encoded: Encoded
    cut: bool


def _fit(encoded: Encoded, spec: DatasetSpec, origin: str, problems: list[Problem]) -> _Kept | None:
    """The sequence within the maximum length: cut, or None when dropped or when cutting left no reply."""
    if len(encoded.input_ids) <= spec.max_length:
        return _Kept(encoded, False)
    if spec.overflow == "drop":
        return None
    encoded = Encoded(encoded.input_ids[: spec.max_length], encoded.labels[: spec.max_length])
    if not encoded.trained:
        problems.append(Problem(origin, f"the reply starts after token {spec.max_length}, so nothing is left to "
                                "learn once cut; raise the maximum length"))
        return None
    return _Kept(encoded, True)


def _counts(items: list[Item], prefs: list[PreferenceItem]) -> dict[str, SourceCounts]:
    counts: dict[str, SourceCounts] = {}
    for item in items:
        c = counts.setdefault(item.example.source, SourceCounts())
        c.sft += 1
        c.unpaired_up += item.example.unpaired_up
    for pref in prefs:
        c = counts.setdefault(pref.record.source, SourceCounts())
        if isinstance(pref.record, PreferencePair):
            c.pairs += 1
        elif pref.record.desirable:
            c.unpaired_up += 1
        else:
            c.unpaired_down += 1
    return counts


def _split(built: BuiltDataset, items: list[Item], prefs: list[PreferenceItem], spec: DatasetSpec,
           held_before: set[str]) -> None:
    """Train and eval by group (split.py). With too few examples held out and no pair to measure, nothing is
    held out and the eval loss is measured on the training examples, as ever; but a group an earlier job held
    out is never trained on."""
    pair_groups = [p.record.group for p in prefs if isinstance(p.record, PreferencePair)]
    held = held_out_groups([i.example.split_group() for i in items], pair_groups, seed=spec.seed,
                           fraction=spec.eval_fraction, earlier=held_before)
    eval_items = [i for i in items if i.example.split_group() in held]
    held_pairs = [g for g in pair_groups if g in held]
    if len(eval_items) < MIN_EVAL and not held_pairs:
        held &= held_before
    built.train = [i for i in items if i.example.split_group() not in held]
    built.eval = [i for i in items if i.example.split_group() in held]
    built.train_pref_items = [p for p in prefs if p.record.group not in held]
    built.eval_pref_items = [p for p in prefs if p.record.group in held]
    built.held_out = held
    if len(built.eval) < MIN_EVAL:
        built.eval_is_train = True
        built.eval = list(built.train)
    rng = random.Random(spec.seed)  # the order the child reads them in; batches are grouped by length there
    rng.shuffle(built.train)
    rng.shuffle(built.train_pref_items)


def _empty_reason(spec: DatasetSpec, problems: list[Problem], dropped: int) -> str:
    if dropped:
        return (f"No training examples: all {dropped} were longer than {spec.max_length} tokens. Raise the "
                "maximum length or choose “cut”.")
    if problems:
        return f"No usable training examples: {len(problems)} problem(s), the first: {problems[0]}"
    return ("No training examples yet. Rate some replies in Chat (thumbs up for a good one, thumbs down for a bad "
            "one, or regenerate and rate the versions), correct the ones you would have answered differently, or "
            "add a JSONL file or a folder of your writing.")


def read_jsonl_items(path: Path, tokenizer: TrainingTokenizer, max_length: int) -> list[Encoded]:
    """What the training child reads: the app's train / eval file, tokenized and cut the same way."""
    result = from_jsonl(path)
    if result.problems:
        raise DatasetError(f"The prepared dataset is damaged: {result.problems[0]}", result.problems)
    encoded = [tokenizer.encode_turns(e.turns) for e in result.examples]
    return [Encoded(e.input_ids[:max_length], e.labels[:max_length]) for e in encoded]
