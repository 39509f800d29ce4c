"""Training gives way to chat: while the engine is generating a reply, the training child yields the cores and
takes them back when the reply ends (placeholder: does nothing yet)."""

from __future__ import annotations


class ChatCourtesy:
    """Called by the training loop between micro-batches."""

    def __init__(self, full_threads: int):
        self.full_threads = full_threads

    def start(self) -> None:
        """Once, before training: lower this process's priority."""

    def between_batches(self) -> None:
        """Before each forward pass: fewer threads (or a wait) while a reply is being generated, all of them after."""
