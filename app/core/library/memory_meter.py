"""Measuring what a loaded model really costs: resident memory above the level before the load.

Sampled after the load and after every reply, keeping the highest, because llama.cpp's KV cache and compute
buffers only become resident as they are used. The result is stored per model, context size and backend, and
the library shows it beside the estimate.
"""

from __future__ import annotations

import psutil

from app.core.library.registry import record_measured_memory
from app.core.storage.db import Database


class LoadMeter:
    def __init__(self) -> None:
        self._process = psutil.Process()
        self.baseline = 0
        self.peak = 0
        self.model_id: int | None = None
        self.key: tuple[int, str] | None = None

    def before_load(self) -> None:
        self.baseline = self._process.memory_info().rss
        self.peak = 0
        self.model_id = None

    def loaded(self, model_id: int, n_ctx: int, backend: str) -> None:
        self.model_id, self.key = model_id, (n_ctx, backend)

    def sample(self, db: Database | None = None) -> int:
        """The peak so far; stored when a database is given and the peak grew."""
        used = max(0, self._process.memory_info().rss - self.baseline)
        if used > self.peak:
            self.peak = used
            if db is not None and self.model_id is not None and self.key is not None:
                with db.session() as session:
                    record_measured_memory(session, self.model_id, self.key[0], self.key[1], used)
        return self.peak
