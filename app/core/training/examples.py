"""Where training examples come from: the user's rated conversations, JSONL files, and a folder of their writing.

Every source yields `Example`s plus `Problem`s. A problem names the file and line (or conversation and message)
and says what is wrong; the good examples are still used. Each message carries `train`: whether its tokens are
learned from. In a rated conversation only the rated (or corrected) reply is; earlier replies are context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.chat.history import prompt_messages
from app.core.engine.backend import ChatMessage
from app.core.storage.conversations import IS_API, IS_CHAT, NOT_DELETED
from app.core.storage.models import Conversation, Feedback, Message, MessageStatus

ROLES = ("system", "user", "assistant")
SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "bot": "assistant", "chatgpt": "assistant"}


@dataclass(frozen=True)
class Turn:
    role: str
    content: str
    train: bool = False  # learn from this message's tokens (assistant turns only)


@dataclass(frozen=True)
class Example:
    turns: tuple[Turn, ...]
    source: str  # "conversations", "API exchanges", a JSONL file name, or "writing"
    origin: str  # for a person: where exactly it came from

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


# --- (a) the user's own conversations ------------------------------------------------------------------------
def from_conversations(session: Session, *, min_rating: int = 1, conversation_ids: Iterable[int] | None = None,
                       use_corrections: bool = True, api: bool = False) -> SourceResult:
    """One example per rated reply: corrected replies with the correction as the target (whatever their rating),
    others when rated at least `min_rating`. The context is what the model saw when it wrote the reply (the same
    history a chat reply gets), with any earlier corrections applied. `api`: the exchanges the engine kept from
    OpenAI clients (rated over the API) instead of the user's chats; each is a source of its own."""
    result = SourceResult()
    query = (
        select(Feedback).join(Message).join(Conversation, Conversation.id == Message.conversation_id)
        .where(Message.role == "assistant", NOT_DELETED, IS_API if api else IS_CHAT)  # Recently deleted is not taught
    )
    label = "API exchanges" if api else "conversations"
    if conversation_ids is not None:
        query = query.where(Message.conversation_id.in_(list(conversation_ids)))
    for fb in session.scalars(query.order_by(Message.conversation_id, Message.id)):
        msg = fb.message
        corrected = use_corrections and bool((fb.correction or "").strip())
        if not corrected and fb.rating < min_rating:
            continue
        where = f"conversation {msg.conversation_id}, message {msg.id}"
        target = fb.correction if corrected else msg.content
        if not corrected and msg.status != MessageStatus.COMPLETE:
            result.problems.append(Problem(where, f"the reply is {msg.status}, not complete; rate a finished reply"))
            continue
        if not (target or "").strip():
            result.problems.append(Problem(where, "the reply is empty"))
            continue
        turns = [Turn(m.role, _corrected_text(session, m) if use_corrections else m.content)
                 for m in prompt_messages(session, msg.conversation_id, msg.parent_id)]
        turns.append(Turn("assistant", target.strip(), train=True))
        if not any(t.role == "user" for t in turns):
            result.problems.append(Problem(where, "the reply has no user message before it"))
            continue
        kind = "corrected reply" if corrected else "thumbs-up reply"
        result.examples.append(Example(tuple(turns), label, f"{where} ({kind})"))
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
    """OpenAI `messages`, ShareGPT `conversations` and Alpaca `instruction`/`output` lines, detected per line."""
    result = SourceResult()
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        result.problems.append(Problem(str(path), f"cannot be read ({exc.strerror or exc})"))
        return result
    for number, line in enumerate(raw.splitlines(), start=1):
        where = f"{path.name}:{number}"
        if not line.strip():
            continue
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
        try:
            turns = _parse_record(record)
        except ValueError as exc:
            result.problems.append(Problem(where, str(exc)))
            continue
        result.examples.append(Example(turns, path.name, where))
    if not result.examples and not result.problems:
        result.problems.append(Problem(path.name, "the file is empty"))
    return result


def _parse_record(record) -> tuple[Turn, ...]:
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, found {type(record).__name__}")
    if "messages" in record:
        turns = _openai(record["messages"])
    elif "conversations" in record:
        turns = _sharegpt(record["conversations"])
    elif "instruction" in record or "output" in record:
        turns = _alpaca(record)
    else:
        keys = ", ".join(sorted(record)[:5]) or "none"
        raise ValueError(f"unknown format (keys: {keys}); expected `messages` (OpenAI), `conversations` "
                         "(ShareGPT) or `instruction`/`output` (Alpaca)")
    if not any(t.train for t in turns):
        raise ValueError("no assistant reply to learn from")
    if not any(t.role == "user" for t in turns):
        raise ValueError("no user message")
    return turns


def _text(value, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, found {type(value).__name__}")
    return value


def _openai(messages) -> tuple[Turn, ...]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("`messages` must be a non-empty list")
    turns = []
    for i, m in enumerate(messages, start=1):
        if not isinstance(m, dict):
            raise ValueError(f"message {i} is not an object")
        role = m.get("role")
        if role not in ROLES:
            raise ValueError(f"message {i} has role {role!r}; expected system, user or assistant")
        content = _text(m.get("content"), f"message {i} content")
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
        content = _text(m.get("value"), f"turn {i} value")
        if not content.strip():
            raise ValueError(f"turn {i} ({speaker}) is empty")
        turns.append(Turn(role, content, train=role == "assistant"))
    return tuple(turns)


def _alpaca(record: dict) -> tuple[Turn, ...]:
    instruction = _text(record.get("instruction", ""), "`instruction`").strip()
    extra = _text(record.get("input", "") or "", "`input`").strip()
    output = _text(record.get("output", ""), "`output`").strip()
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
