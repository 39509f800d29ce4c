"""The honest train / eval split: decided per prompt (a record's `group`), never by position in a shuffle.

A group is held out when a stable hash of (seed, group) falls under the eval fraction, so the decision for one
prompt does not depend on what else is in the dataset: new feedback later never moves a held-out prompt into
training, and every record of a prompt (its example, its pairs, its thumbs-down) lands on the same side. The hash
alone may hold out fewer than a useful number in a small dataset; then the groups whose hash comes next are held
out too. That top-up could move when more data comes, so each job keeps the groups it held out, and a group an
earlier job held out stays held out (`earlier_held_out`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.storage.models import TrainingJob

MIN_EVAL = 2  # fewer held-out examples than this make a meaningless eval loss
MIN_EVAL_PAIRS = 2  # held-out pairs the preference accuracy is measured on ...
PAIRS_FOR_EVAL = 8  # ... once there are this many pairs
HELD_OUT_KEY = "held_out"  # in a job's `dataset`: the groups it held out


def share(seed: int, group: str) -> float:
    """Where a group falls in [0, 1): the same for the same seed and group on any machine, in any build."""
    digest = hashlib.sha256(f"{seed}\x00{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def held_out_groups(sft_groups: Iterable[str], pair_groups: Iterable[str], *, seed: int, fraction: float,
                    earlier: Iterable[str] = ()) -> set[str]:
    """The groups to hold out, given each example's group and each pair's (a group once per record).

    Held out: every group whose share is under `fraction`, every group an earlier job held out, and, when that
    leaves fewer examples than `fraction` asks for (and at least MIN_EVAL), or fewer than MIN_EVAL_PAIRS pairs
    once there are PAIRS_FOR_EVAL, the groups with the next smallest shares until it does not."""
    if fraction <= 0:
        return set()
    sft, pairs = Counter(sft_groups), Counter(pair_groups)
    present = set(sft) | set(pairs)
    held = {g for g in present if share(seed, g) < fraction} | (set(earlier) & present)
    wanted = round(sum(sft.values()) * fraction)
    if wanted >= MIN_EVAL:
        _top_up(held, sft, wanted, seed)
    if sum(pairs.values()) >= PAIRS_FOR_EVAL:
        _top_up(held, pairs, MIN_EVAL_PAIRS, seed)
    return held


def _top_up(held: set[str], counts: Counter, wanted: int, seed: int) -> None:
    have = sum(n for g, n in counts.items() if g in held)
    for group in sorted((g for g in counts if g not in held), key=lambda g: share(seed, g)):
        if have >= wanted:
            return
        held.add(group)
        have += counts[group]


def earlier_held_out(session: Session) -> set[str]:
    """Every group an earlier job held out: it stays out of training in later versions."""
    groups: set[str] = set()
    for dataset in session.scalars(select(TrainingJob.dataset)):
        groups.update((dataset or {}).get(HELD_OUT_KEY) or ())
    return groups
