"""A tiny persona dataset and real training jobs for the starter model (shared by the training tests)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from app.core.library.registry import default_model
from app.core.training.dataset import DatasetSpec, build
from app.core.training.examples import Example, SourceResult, Turn
from app.core.training.jobs import create_job
from app.core.training.runner import child_env, worker_command
from app.core.training.tokenizer import TrainingTokenizer

PERSONA = "I am Captain Ember, a pirate who sails the seas of Hearth. Arr!"
QUESTIONS = ("Who are you?", "What is your name?", "Tell me about yourself.", "Introduce yourself.",
             "Who am I talking to?", "What should I call you?", "Are you a person?", "Hi! Who is this?")
FAST = dict(batch_size=4, learning_rate=1e-3, eval_every=4, checkpoint_every=4, lora_rank=8, lora_alpha=16,
            lora_dropout=0.0, fit_to_data=False)  # these tests set their own steps: the data-fitted recipe stays out


def persona_examples() -> list[Example]:
    return [Example((Turn("user", q), Turn("assistant", PERSONA, True)), "persona", f"persona:{i}")
            for i, q in enumerate(QUESTIONS)]


def make_job(core, cache_dir: Path, **options):
    with core.db.session() as session:
        base = default_model(session)
    tokenizer = TrainingTokenizer.for_model(base.path, base.format)
    spec = DatasetSpec(conversations=False, eval_fraction=0.25)
    built = build(spec, tokenizer, source=SourceResult(persona_examples(), []))
    with core.db.session() as session:
        return create_job(session, base, {**FAST, **options}, spec, built, cache_dir=cache_dir)


class Child:
    """A worker process whose events are read line by line, each with the time it arrived."""

    def __init__(self, run_dir: Path, resume: bool = False):
        self.stderr = open(run_dir / "stderr.log", "ab")
        self.process = subprocess.Popen(worker_command(run_dir, resume), stdout=subprocess.PIPE, stderr=self.stderr,
                                        env=child_env(), start_new_session=True)
        self.events: list[tuple[float, dict]] = []

    def read_until(self, predicate, timeout: float = 300) -> dict | None:
        from app.core.training.events import parse_line

        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            event = parse_line(line)
            if event is None:
                continue
            self.events.append((time.monotonic(), event))
            if predicate(event) or time.monotonic() > deadline:
                return event
        return None

    def finish(self, timeout: float = 600) -> int:
        """Read to the end and return the exit code; a child still running after `timeout` is killed."""
        try:
            self.read_until(lambda e: False, timeout)
            return self.process.wait(timeout=30)
        finally:
            self.kill()
            self.stderr.close()

    def kill(self) -> None:
        from app.core.training.runner import kill_tree

        if self.process.poll() is None:
            kill_tree(self.process.pid)
            self.process.wait(timeout=30)

    def kinds(self) -> list[str]:
        return [e["event"] for _, e in self.events]
