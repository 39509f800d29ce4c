"""The training child's JSON-lines protocol (see DESIGN.md): one object per line on stdout, the same lines
appended to `events.jsonl` in the run folder so a restarted app can re-attach and replay the curves. Every event
also carries `t`, the time it was written (seconds since the epoch).

    started     total_steps, examples, device, method, precision (fp32 / bf16), (resumed_from), pairs,
                unpaired_down, eval_pairs
    step        step, loss, lr, epoch, tokens (real, unpadded, this step), tokens_per_s, mem_mb (10^6 bytes), eta_s,
                (sft_loss, pref_loss: the two parts of `loss` when the job learns preferences; sft_loss is None
                without replies to imitate)
    eval        step, eval_loss, (pref_accuracy, pref_margin: on the held-out pairs, when there are any)
    checkpoint  step, path
    log         message                      (a line for the live view's log)
    done        adapter_dir, gguf_adapter, eval_loss_before, eval_loss_after, pref_pairs (held-out pairs measured,
                0 without), pref_accuracy_before / _after, pref_margin_before / _after (None without held-out pairs)
    error       message, detail              (message for a person; detail: the exception, for a bug report)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

EVENTS_FILE = "events.jsonl"
KINDS = ("started", "step", "eval", "checkpoint", "log", "done", "error")
FINAL = ("done", "error")


def parse_line(line: str | bytes) -> dict | None:
    """An event, or None for anything else on the stream (a library printing to stdout must not break the app)."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and event.get("event") in KINDS else None


def read_events(run_dir: Path) -> Iterator[dict]:
    """Every event a run has written so far; a torn last line (the child was killed mid-write) is skipped."""
    path = Path(run_dir) / EVENTS_FILE
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                event = parse_line(line)
                if event is not None:
                    yield event
    except FileNotFoundError:
        return


class EventWriter:
    """Used by the child: each event goes to stdout (flushed at once, since a pipe is block-buffered) and to the
    run folder's events file (flushed too, so a re-attaching app sees it)."""

    def __init__(self, run_dir: Path, stream: IO[str] | None = None):
        self.stream = stream or sys.stdout
        self.file = open(Path(run_dir) / EVENTS_FILE, "a", encoding="utf-8")
        self._lock = threading.Lock()  # the parent watcher may emit from its own thread: never half a line

    def emit(self, kind: str, **fields) -> dict:
        event = {"event": kind, "t": round(time.time(), 3), **fields}
        line = json.dumps(event, ensure_ascii=False, default=str)
        with self._lock:
            for out in (self.file, self.stream):  # the file first: whoever sees a line on stdout finds it there
                try:
                    out.write(line + "\n")
                    out.flush()
                except (OSError, ValueError):  # the app went away (closed pipe): the file still records the run
                    pass
        return event

    def close(self) -> None:
        with self._lock:
            self.file.close()
