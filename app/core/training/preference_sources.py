"""Where preference records come from: the user's ratings (corrections, thumbs-up and thumbs-down versions of one
prompt, lone thumbs-down) and preference lines in JSONL files (TRL's `prompt`/`chosen`/`rejected`, KTO's
`prompt`/`completion`/`label`).

The examples to imitate from the same ratings come from examples.from_conversations; this module adds what the
ratings say against a reply. Every problem names the message or the file line, as there.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.orm import Session

from app.core.storage.models import MessageStatus
from app.core.training.examples import (
    SFT_FORMATS, Example, Problem, SourceResult, Turn, conversations_label, jsonl_records, openai_turns,
    pair_versions, parse_record, prompt_group, rated_replies, reply_prompt, text_field,
)
from app.core.training.preferences import PreferencePair, Unpaired

UNFINISHED = {MessageStatus.INTERRUPTED: "was interrupted", MessageStatus.ERROR: "failed",
              MessageStatus.STREAMING: "is still being written"}
PREFERENCE_FORMATS = (f"{SFT_FORMATS}, or a preference: `prompt`/`chosen`/`rejected` (a pair) or "
                      "`prompt`/`completion`/`label` (one rated reply)")


# --- the user's ratings --------------------------------------------------------------------------------------
def from_feedback(session: Session, *, min_rating: int = 1, conversation_ids: Iterable[int] | None = None,
                  use_corrections: bool = True, api: bool = False) -> SourceResult:
    """Preference records from rated replies (the examples to imitate come from examples.from_conversations):
    - a corrected reply: the correction preferred to the original;
    - a thumbs-down version with a thumbs-up sibling: the thumbs-up version preferred (examples.pair_versions
      says which sibling);
    - a thumbs-down reply with neither: a lone thumbs-down, an undesirable reply.
    A thumbs-down reply the model never finished, or an empty one, is a problem: it says nothing about a reply."""
    result = SourceResult()
    label = conversations_label(api)
    replies = rated_replies(session, min_rating=min_rating, conversation_ids=conversation_ids,
                            use_corrections=use_corrections, api=api)
    paired = pair_versions(replies)
    for r in replies:
        msg = r.message
        if r.correction is None and not r.down:
            continue
        if not r.finished:
            state = UNFINISHED.get(msg.status, "empty")
            reason = (f"the reply {state}, so it is not used as the worse reply of a pair (its correction is "
                      "still learned)" if r.correction else
                      f"the thumbs-down reply {state}, so it says nothing about a reply; rate a finished one "
                      "(or correct it)")
            result.problems.append(Problem(r.where, reason))
            continue
        prompt = reply_prompt(session, msg, use_corrections)
        if not any(t.role == "user" for t in prompt):
            if r.correction is None:  # a correction without one is reported with its example
                result.problems.append(Problem(r.where, "the reply has no user message before it"))
            continue
        original = msg.content.strip()
        if r.correction is not None:
            if r.correction != original:
                result.preferences.append(PreferencePair(prompt, r.correction, original, label,
                                                         f"{r.where} (correction over the reply)", r.group))
        elif msg.id in paired:
            up = paired[msg.id]
            if up.message.content.strip() == original:
                result.problems.append(Problem(r.where, f"rated down, but the same reply is rated up (message "
                                                        f"{up.message.id}), so nothing is preferred"))
                continue
            result.preferences.append(PreferencePair(
                prompt, up.message.content.strip(), original, label,
                f"{r.where} (thumbs-down version; preferred: message {up.message.id})", r.group))
        else:
            result.preferences.append(Unpaired(prompt, original, False, label, f"{r.where} (thumbs-down reply)",
                                               r.group))
    return result


# --- JSONL files ---------------------------------------------------------------------------------------------
def from_jsonl_with_preferences(path: Path) -> SourceResult:
    """A JSONL file whose lines may be examples (examples.from_jsonl's formats) or preferences, detected per line:
    `prompt` + `chosen` + `rejected` is a pair (TRL's DPO format: each a text or a message list), `prompt` +
    `completion` + `label` one rated reply (TRL's KTO format). A reply labelled good is an example to imitate, as
    a lone thumbs-up is; one labelled bad is a lone thumbs-down."""
    result = SourceResult()
    path = Path(path)
    for where, record in jsonl_records(path, result):
        try:
            if isinstance(record, dict) and ("chosen" in record or "rejected" in record):
                result.preferences.append(_pair(record, path.name, where))
            elif isinstance(record, dict) and ("completion" in record or "label" in record):
                item = _rated(record, path.name, where)
                (result.preferences if isinstance(item, Unpaired) else result.examples).append(item)
            else:
                result.examples.append(Example(parse_record(record, PREFERENCE_FORMATS), path.name, where))
        except ValueError as exc:
            result.problems.append(Problem(where, str(exc)))
    return result


def _pair(record: dict, source: str, where: str) -> PreferencePair:
    if "chosen" not in record or "rejected" not in record:
        raise ValueError("a preference pair needs both `chosen` and `rejected`")
    if "prompt" in record:
        prompt = _prompt(record["prompt"])
        chosen, rejected = _reply(record["chosen"], "`chosen`"), _reply(record["rejected"], "`rejected`")
    else:
        prompt, chosen, rejected = _implicit_prompt(record["chosen"], record["rejected"])
    if chosen == rejected:
        raise ValueError("`chosen` and `rejected` are the same reply, so nothing is preferred")
    return PreferencePair(prompt, chosen, rejected, source, where, prompt_group(prompt))


def _rated(record: dict, source: str, where: str) -> Unpaired | Example:
    if "prompt" not in record:
        raise ValueError("a rated reply needs a `prompt`")
    if "completion" not in record:
        raise ValueError("a rated reply needs a `completion`")
    label = record.get("label")
    if not isinstance(label, bool):
        raise ValueError(f"`label` must be true (a good reply) or false (a bad one), found {label!r}")
    prompt = _prompt(record["prompt"])
    completion = _reply(record["completion"], "`completion`")
    group = prompt_group(prompt)
    if label:
        return Example((*prompt, Turn("assistant", completion, train=True)), source, where, group, unpaired_up=True)
    return Unpaired(prompt, completion, False, source, where, group)


def _prompt(value) -> tuple[Turn, ...]:
    """A prompt as text (one user message) or as a message list ending with the user's turn."""
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("`prompt` is empty")
        return (Turn("user", value),)
    if not isinstance(value, list):
        raise ValueError(f"`prompt` must be text or a list of messages, found {type(value).__name__}")
    turns = tuple(Turn(t.role, t.content) for t in openai_turns(value))
    if turns[-1].role != "user":
        raise ValueError(f"`prompt` must end with a user message, not {turns[-1].role}")
    return turns


def _reply(value, what: str) -> str:
    """A reply as text, or as a list of one assistant message (TRL's conversational form)."""
    if isinstance(value, list):
        if len(value) != 1 or not isinstance(value[0], dict) or value[0].get("role") != "assistant":
            raise ValueError(f"{what} must be text or a list of one assistant message")
        value = value[0].get("content")
    text = text_field(value, what)
    if not text.strip():
        raise ValueError(f"{what} is empty")
    return text.strip()


def _implicit_prompt(chosen, rejected) -> tuple[tuple[Turn, ...], str, str]:
    """TRL's form without `prompt`: two whole conversations that share everything but the last reply."""
    if not (isinstance(chosen, list) and isinstance(rejected, list)):
        raise ValueError("a pair without `prompt` needs `chosen` and `rejected` as message lists that share "
                         "the prompt (or give `prompt`)")
    chosen_turns, rejected_turns = openai_turns(chosen), openai_turns(rejected)
    prompt = tuple(Turn(t.role, t.content) for t in chosen_turns[:-1])
    if tuple(Turn(t.role, t.content) for t in rejected_turns[:-1]) != prompt:
        raise ValueError("`chosen` and `rejected` differ before their last message, so the prompt is unclear")
    if not prompt or prompt[-1].role != "user" or any(t[-1].role != "assistant" for t in (chosen_turns, rejected_turns)):
        raise ValueError("`chosen` and `rejected` must each be the prompt, ending with a user message, and then "
                         "one assistant reply")
    return prompt, chosen_turns[-1].content.strip(), rejected_turns[-1].content.strip()

