"""Where training examples come from: the user's rated conversations, JSONL files, and a folder of their writing.

Every source yields `Example`s plus `Problem`s. A problem names the file and line (or conversation and message)
and says what is wrong; the good examples are still used. Each message carries `train`: whether its tokens are
learned from. In a rated conversation only the rated (or corrected) reply is; earlier replies are context.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.chat.history import prompt_messages
from app.core.engine.backend import ChatMessage
from app.core.storage.conversations import IS_API, IS_CHAT, NOT_DELETED
from app.core.storage.models import Conversation, Feedback, Message, MessageStatus

if TYPE_CHECKING:  # preferences.py builds on this module's Turn
    from app.core.training.preferences import Preference

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "bot": "assistant", "chatgpt": "assistant"}


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    train: bool = False  # learn from this message's tokens (assistant turns only)


def prompt_group(prompt: Iterable[Turn]) -> str:
    """A prompt's identity from its text, for records that carry no other (JSONL lines, writing): the same
    prompt in two files, or as an example and as a pair, is one group and lands on one side of the split."""
    text = json.dumps([(t.role, t.content.strip()) for t in prompt], ensure_ascii=False)
    return "prompt:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Example:
    turns: tuple[Turn, ...]
    source: str  # "conversations", "API exchanges", a JSONL file name, or "writing"
    origin: str  # for a person: where exactly it came from
    group: str = ""  # the prompt's identity for the train / eval split ("": from the prompt's text)
    unpaired_up: bool = False  # a lone thumbs-up: imitated, and no worse version of its prompt stands against it

    def split_group(self) -> str:
        if self.group:
            return self.group
        last = max((i for i, t in enumerate(self.turns) if t.train), default=len(self.turns))
        return prompt_group(self.turns[:last])

    def key(self) -> str:
        """Identity for de-duplication: the same text in the same roles, whatever its origin."""
        return json.dumps([(t.role, t.content.strip(), t.train) for t in self.turns], ensure_ascii=False)

    def to_openai(self) -> dict:
        """OpenAI fine-tuning form; `weight` 0 marks an assistant message that is context, not a target."""
        messages = []
        for t in self.turns:
            item = {"role": t.role, "content": t.content}
            if t.role == "assistant":
                item["weight"] = 1 if t.train else 0
            messages.append(item)
        return {"messages": messages}


@dataclass(frozen=True)
class Problem:
    where: str  # "chats.jsonl:17", "conversation 4, message 31", "notes/draft.md"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class SourceResult:
    examples: list[Example] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)  # pairs and lone thumbs-down (preferences.py)


# --- (a) the user's own conversations ------------------------------------------------------------------------
def conversations_label(api: bool) -> str:
    return "API exchanges" if api else "conversations"


@dataclass(frozen=True)
class RatedReply:
    """One rated reply and what its rating means for training. A correction counts as a thumbs-down of the
    original (the rule since corrections came in), so a corrected reply is never a thumbs-up version."""

    message: Message
    rating: int
    correction: str | None  # the user's better reply, when corrections are used
    up: bool  # a thumbs-up version: imitated, and preferred over a thumbs-down version of the same prompt
    down: bool  # a thumbs-down version without a correction
    group: str  # the prompt it answers: "chat:<conversation>:<user message>" ("api:" for API exchanges)

    @property
    def where(self) -> str:
        return f"conversation {self.message.conversation_id}, message {self.message.id}"

    @property
    def finished(self) -> bool:
        return self.message.status == MessageStatus.COMPLETE and bool(self.message.content.strip())


def rated_replies(session: Session, *, min_rating: int = 1, conversation_ids: Iterable[int] | None = None,
                  use_corrections: bool = True, api: bool = False) -> list[RatedReply]:
    """Every rated or corrected reply, in the order written. Thumbs count when `min_rating` takes thumbs-up
    replies (1); with "corrections only" (2) neither kind of thumb is used."""
    query = (
        select(Feedback).join(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == "assistant", NOT_DELETED, IS_API if api else IS_CHAT)  # Recently deleted is not taught
    )
    if conversation_ids is not None:
        query = query.where(Message.conversation_id.in_(list(conversation_ids)))
    replies = []
    for fb in session.scalars(query.order_by(Message.conversation_id, Message.id)):
        msg = fb.message
        correction = (fb.correction or "").strip() if use_corrections else ""
        thumbs = not correction and min_rating <= 1
        group = f"{'api' if api else 'chat'}:{msg.conversation_id}:{msg.parent_id}"
        replies.append(RatedReply(msg, fb.rating, correction or None, thumbs and fb.rating >= max(min_rating, 1),
                                  thumbs and fb.rating < 0, group))
    return replies


def pair_versions(replies: list[RatedReply]) -> dict[int, RatedReply]:
    """The thumbs-up version each thumbs-down version is paired with, by the thumbs-down message's id.

    Versions of one prompt are sibling replies (regenerations under the same user message). Each thumbs-down
    version is paired with one finished thumbs-up sibling: the one written nearest to it (usually the
    regeneration that replaced it), a tie going to the later one. So a prompt gives one pair per thumbs-down
    version, never every combination, and a thumbs-up version may stand in several pairs.
    """
    ups: dict[str, list[RatedReply]] = {}
    for r in replies:
        if r.up and r.finished:
            ups.setdefault(r.group, []).append(r)
    paired = {}
    for r in replies:
        if r.down and r.group in ups:
            paired[r.message.id] = min(ups[r.group],
                                       key=lambda u: (abs(u.message.id - r.message.id), -u.message.id))
    return paired


def reply_prompt(session: Session, message: Message, use_corrections: bool = True) -> tuple[Turn, ...]:
    """What the model saw when it wrote `message` (the same history a chat reply gets), with the user's earlier
    corrections applied, so the dialogue taught is the one they wanted."""
    return tuple(Turn(m.role, _corrected_text(session, m) if use_corrections else m.content)
                 for m in prompt_messages(session, message.conversation_id, message.parent_id))


def from_conversations(session: Session, *, min_rating: int = 1, conversation_ids: Iterable[int] | None = None,
                       use_corrections: bool = True, api: bool = False) -> SourceResult:
    """One example per rated reply: corrected replies with the correction as the target (whatever their rating),
    others when rated at least `min_rating`. The context is what the model saw when it wrote the reply, with any
    earlier corrections applied. `api`: the exchanges the engine kept from OpenAI clients (rated over the API)
    instead of the user's chats; each is a source of its own. The preference records the same ratings give
    come from preference_sources.from_feedback."""
    result = SourceResult()
    label = conversations_label(api)
    replies = rated_replies(session, min_rating=min_rating, conversation_ids=conversation_ids,
                            use_corrections=use_corrections, api=api)
    paired_ups = {u.message.id for u in pair_versions(replies).values()}
    for r in replies:
        msg = r.message
        if r.correction is None and r.rating < min_rating:
            continue
        target = r.correction or msg.content
        if r.correction is None and msg.status != MessageStatus.COMPLETE:
            result.problems.append(Problem(r.where, f"the reply is {msg.status}, not complete; rate a finished reply"))
            continue
        if not (target or "").strip():
            result.problems.append(Problem(r.where, "the reply is empty"))
            continue
        turns = (*reply_prompt(session, msg, use_corrections), Turn("assistant", target.strip(), train=True))
        if not any(t.role == "user" for t in turns):
            result.problems.append(Problem(r.where, "the reply has no user message before it"))
            continue
        kind = "corrected reply" if r.correction else "thumbs-up reply"
        result.examples.append(Example(turns, label, f"{r.where} ({kind})", r.group,
                                       unpaired_up=r.up and msg.id not in paired_ups))
    return result


def _corrected_text(session: Session, turn: ChatMessage) -> str:
    """An earlier reply the user corrected is taught as corrected, so the example is the dialogue they wanted."""
    m = session.get(Message, turn.id) if turn.role == "assistant" and turn.id is not None else None
    if m is not None and m.feedback is not None and (m.feedback.correction or "").strip():
        return m.feedback.correction.strip()
    return turn.content


def rated_conversations(session: Session) -> list[tuple[int, str, int]]:
    """(conversation id, title, rated replies) for the dataset form's picker, newest first."""
    rows = session.execute(
        select(Conversation.id, Conversation.title, Message.id)
        .join(Message, Message.conversation_id == Conversation.id)
        .join(Feedback, Feedback.message_id == Message.id)
        .where((Feedback.rating != 0) | (Feedback.correction.is_not(None)), NOT_DELETED, IS_CHAT)
        .order_by(Conversation.updated_at.desc())
    ).all()
    counts: dict[int, list] = {}
    for cid, title, _mid in rows:
        counts.setdefault(cid, [cid, title, 0])[2] += 1
    return [tuple(v) for v in counts.values()]


def rated_api_replies(session: Session) -> int:
    """How many kept API replies are rated or corrected, for the dataset form's "API exchanges" line."""
    return session.scalar(
        select(func.count(Feedback.id)).join(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .where((Feedback.rating != 0) | (Feedback.correction.is_not(None)), NOT_DELETED, IS_API)
    ) or 0


# --- (b) JSONL files -----------------------------------------------------------------------------------------
def from_jsonl(path: Path) -> SourceResult:
    """OpenAI `messages`, ShareGPT `conversations` and Alpaca `instruction`/`output` lines, detected per line.
    (preference_sources.from_jsonl_with_preferences also reads preference lines.)"""
    result = SourceResult()
    path = Path(path)
    for where, record in jsonl_records(path, result):
        try:
            turns = parse_record(record)
        except ValueError as exc:
            result.problems.append(Problem(where, str(exc)))
            continue
        result.examples.append(Example(turns, path.name, where))
    return result


def jsonl_records(path: Path, result: SourceResult) -> Iterator[tuple[str, object]]:
    """("file.jsonl:N", the line's JSON value) for each good line; unreadable files, bad bytes and bad JSON go to
    `result.problems`, and so does a file that gives nothing at all."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        result.problems.append(Problem(str(path), f"cannot be read ({exc.strerror or exc})"))
        return
    before = len(result.problems)
    lines = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
        lines += 1
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            result.problems.append(Problem(where, f"not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8"))
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            result.problems.append(Problem(where, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        yield where, record
    if not lines and len(result.problems) == before:
        result.problems.append(Problem(path.name, "the file is empty"))


SFT_FORMATS = "`messages` (OpenAI), `conversations` (ShareGPT) or `instruction`/`output` (Alpaca)"


def parse_record(record, formats: str = SFT_FORMATS) -> tuple[Turn, ...]:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    if "messages" in record:
        turns = openai_turns(record["messages"])
    elif "conversations" in record:
        turns = _sharegpt(record["conversations"])
    elif "instruction" in record or "output" in record:
        turns = _alpaca(record)
    else:
        keys = ", ".join(sorted(record)[:5]) or "none"
        raise ValueError(f"unknown format (keys: {keys}); expected {formats}")
    if not any(t.train for t in turns):
        raise ValueError("no assistant reply to learn from")
    if not any(t.role == "user" for t in turns):
        raise ValueError("no user message")
    return turns


def text_field(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, found {type(value).__name__}")
    return value


def openai_turns(messages) -> tuple[Turn, ...]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("`messages` must be a non-empty list")
    turns = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"message {i} is not an object")
        role = m.get("role")
        if role not in ROLES:
            raise ValueError(f"message {i} has role {role!r}; expected system, user or assistant")
        content = text_field(m.get("content"), f"message {i} content")
        if not content.strip():
            raise ValueError(f"message {i} ({role}) is empty")
        weight = m.get("weight", 1)
        turns.append(Turn(role, content, train=role == "assistant" and weight != 0))
    return tuple(turns)


def _sharegpt(conversations) -> tuple[Turn, ...]:
    if not isinstance(conversations, list) or not conversations:
        raise ValueError("`conversations` must be a non-empty list")
    turns = []
    for i, m in enumerate(conversations, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"turn {i} is not an object")
        speaker = m.get("from")
        role = SHAREGPT_ROLES.get(str(speaker).lower())
        if role is None:
            raise ValueError(f"turn {i} is from {speaker!r}; expected human, gpt or system")
        content = text_field(m.get("value"), f"turn {i} value")
        if not content.strip():
            raise ValueError(f"turn {i} ({speaker}) is empty")
        turns.append(Turn(role, content, train=role == "assistant"))
    return tuple(turns)


def _alpaca(record: dict) -> tuple[Turn, ...]:
    instruction = text_field(record.get("instruction", ""), "`instruction`").strip()
    extra = text_field(record.get("input", "") or "", "`input`").strip()
    output = text_field(record.get("output", ""), "`output`").strip()
    if not instruction:
        raise ValueError("`instruction` is missing or empty")
    if not output:
        raise ValueError("`output` is missing or empty")
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    turns = [Turn("system", record["system"])] if isinstance(record.get("system"), str) and record["system"].strip() else []
    return (*turns, Turn("user", prompt), Turn("assistant", output, train=True))


# --- (c) a folder of the user's own writing ------------------------------------------------------------------
WRITING_SUFFIXES = (".txt", ".md", ".markdown")
CHUNK_WORDS = 220  # about 300 tokens: long enough to carry a voice, short enough for a small model's context
FIRST_PROMPT = "Write in my own voice: {title}"
NEXT_PROMPT = "Continue my writing in my own voice. Here is where it left off:\n\n{previous}"


def from_writing(folder: Path, chunk_words: int = CHUNK_WORDS) -> SourceResult:
    """Cut each .txt / .md file into passages of whole paragraphs (about `chunk_words` words); each passage is a
    reply to "write in my own voice" (the first) or "continue from here" (quoting the previous paragraph)."""
    result = SourceResult()
    folder = Path(folder)
    if not folder.is_dir():
        result.problems.append(Problem(str(folder), "is not a folder"))
        return result
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in WRITING_SUFFIXES)
    if not files:
        result.problems.append(Problem(str(folder), "has no .txt or .md files"))
    for path in files:
        name = str(path.relative_to(folder))
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            result.problems.append(Problem(name, f"not UTF-8 text (byte {exc.start + 1}); save it as UTF-8"))
            continue
        except OSError as exc:
            result.problems.append(Problem(name, f"cannot be read ({exc.strerror or exc})"))
            continue
        paragraphs = _paragraphs(text)
        title = _title(text, path)
        if paragraphs and paragraphs[0][1].lstrip().startswith("#"):
            paragraphs = paragraphs[1:]  # the heading is the prompt's title, not part of the passage
        passages = list(_passages(paragraphs, chunk_words))
        if not passages:
            result.problems.append(Problem(name, "has no text"))
            continue
        previous = None
        for i, (line, passage) in enumerate(passages, start=1):
            prompt = FIRST_PROMPT.format(title=title) if previous is None else NEXT_PROMPT.format(previous=previous)
            turns = (Turn("user", prompt), Turn("assistant", "\n\n".join(passage), train=True))
            result.examples.append(Example(turns, "writing", f"{name}:{line} (passage {i})"))
            previous = passage[-1]
    return result


def _paragraphs(text: str) -> list[tuple[int, str]]:
    """(first line number, paragraph) for each block separated by blank lines."""
    found, lines, start = [], [], 1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not lines:
                start = number
            lines.append(line.rstrip())
        elif lines:
            found.append((start, "\n".join(lines)))
            lines = []
    if lines:
        found.append((start, "\n".join(lines)))
    return found


def _sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", paragraph) if s]


def _passages(paragraphs: list[tuple[int, str]], chunk_words: int) -> Iterator[tuple[int, list[str]]]:
    """Whole paragraphs up to about `chunk_words`; a paragraph longer than that alone is cut between sentences."""
    current: list[str] = []
    start, words = 1, 0
    for line, paragraph in paragraphs:
        pieces = [paragraph]
        if len(paragraph.split()) > chunk_words:
            pieces, piece = [], []
            for sentence in _sentences(paragraph):
                piece.append(sentence)
                if len(" ".join(piece).split()) >= chunk_words:
                    pieces.append(" ".join(piece))
                    piece = []
            if piece:
                pieces.append(" ".join(piece))
        for piece in pieces:
            n = len(piece.split())
            if current and words + n > chunk_words:
                yield start, current
                current, words = [], 0
            if not current:
                start = line
            current.append(piece)
            words += n
    if current:
        yield start, current


def _title(text: str, path: Path) -> str:
    for line in text.splitlines():
        if line.strip():
            heading = line.strip().lstrip("#").strip()
            if line.lstrip().startswith("#") and heading:
                return heading
            break
    return path.stem.replace("_", " ").replace("-", " ")
