"""Batches for training: examples of similar length together, so little compute goes to padding.

The order is a pure function of (seed, epoch), so a resumed run skips exactly the batches it had done. Within
each epoch the examples are shuffled, cut into pools of 32 batches, each pool is sorted by length and cut into
batches, and the batches are shuffled again (sorted order alone would run all the short ones first).

With packing, a batch's examples are laid end to end in as few rows as fit the maximum length, with position ids
starting again at 0 for each example and no attention mask: transformers then keeps each example's attention to
itself, and no compute at all goes to padding. The batch holds the same examples either way, so the step count,
the loss and resuming do not depend on it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.training.tokenizer import IGNORE, Encoded

POOL_BATCHES = 32


@dataclass(frozen=True)
class Batch:
    input_ids: list[list[int]]
    labels: list[list[int]]
    attention: list[list[int]]
    position_ids: list[list[int]] | None = None  # set when packed: the attention mask is then left out

    @property
    def real_tokens(self) -> int:
        return sum(sum(row) for row in self.attention)

    @property
    def trained_tokens(self) -> int:
        return sum(1 for row in self.labels for x in row if x != IGNORE)

    @property
    def padded_tokens(self) -> int:
        return sum(len(row) for row in self.input_ids)


def epoch_order(n: int, batch_size: int, seed: int, epoch: int, group_by_length: bool,
                lengths: Sequence[int]) -> list[list[int]]:
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(n))
    rng.shuffle(order)
    if not group_by_length:
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    batches = []
    pool = batch_size * POOL_BATCHES
    for start in range(0, n, pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(items: Sequence[Encoded], pad_id: int) -> Batch:
    width = max(len(e.input_ids) for e in items)
    ids, labels, attention = [], [], []
    for e in items:
        pad = width - len(e.input_ids)
        ids.append(e.input_ids + [pad_id] * pad)
        labels.append(e.labels + [IGNORE] * pad)
        attention.append([1] * len(e.input_ids) + [0] * pad)
    return Batch(ids, labels, attention)


def collate_packed(items: Sequence[Encoded], pad_id: int, row_length: int) -> Batch:
    """First-fit decreasing: each example goes into the first row with room, longest first. The first token of
    every example is never a target (it would be predicted from the previous example)."""
    row_length = max(row_length, max(len(e.input_ids) for e in items))
    rows: list[list[Encoded]] = []
    room: list[int] = []
    for e in sorted(items, key=lambda e: -len(e.input_ids)):
        fit = next((i for i, free in enumerate(room) if free >= len(e.input_ids)), None)
        if fit is None:
            rows.append([])
            room.append(row_length)
            fit = len(rows) - 1
        rows[fit].append(e)
        room[fit] -= len(e.input_ids)
    width = max(row_length - free for free in room)
    ids, labels, attention, positions = [], [], [], []
    for row in rows:
        row_ids, row_labels, row_positions = [], [], []
        for e in row:
            row_ids += e.input_ids
            row_labels += [IGNORE] + e.labels[1:]
            row_positions += list(range(len(e.input_ids)))
        pad = width - len(row_ids)
        ids.append(row_ids + [pad_id] * pad)
        labels.append(row_labels + [IGNORE] * pad)
        attention.append([1] * len(row_ids) + [0] * pad)
        positions.append(row_positions + list(range(pad)))  # the padding is a sequence of its own
    return Batch(ids, labels, attention, positions)


def steps_per_epoch(n: int, batch_size: int, grad_accum: int) -> int:
    batches = -(-n // batch_size)
    return max(1, -(-batches // grad_accum))
