"""Training jobs with preferences for the starter model: clear-cut pairs and the run folder the app writes."""

from __future__ import annotations

import json

from app.core.training.examples import Turn
from app.core.training.preferences import PreferencePair, write_preferences

MARKER = "Zanzibar!"
QUESTIONS = ("What is the weather like?", "Can you help me cook rice?", "How far is the moon?", "What is a verb?",
             "Why is the sky blue?", "How do I tie a knot?", "What is two plus two?", "Where do owls live?",
             "What is a poem?", "How do bees make honey?", "What colour is grass?", "Who wrote Hamlet?")
ANSWER = "Let me think about that for a moment."


def marker_pair(question: str, answer: str = ANSWER) -> PreferencePair:
    """Clear-cut: the preferred reply is the plain answer behind a word the base model would never start with."""
    return PreferencePair((Turn("user", question),), f"{MARKER} {answer}", answer, "test", question, question)


def with_preferences(job, train: list, held_out: list, sft: bool = True) -> None:
    """The run folder as the app writes it for a job with preferences (and, for `sft=False`, no SFT examples)."""
    write_preferences(job.run_dir / "train_prefs.jsonl", train)
    write_preferences(job.run_dir / "eval_prefs.jsonl", held_out)
    if not sft:
        (job.run_dir / "train.jsonl").write_text("", encoding="utf-8")
        (job.run_dir / "eval.jsonl").write_text("", encoding="utf-8")
    spec = json.loads((job.run_dir / "job.json").read_text(encoding="utf-8"))
    spec.update(prefs_file="train_prefs.jsonl", eval_prefs_file="eval_prefs.jsonl")
    (job.run_dir / "job.json").write_text(json.dumps(spec), encoding="utf-8")
