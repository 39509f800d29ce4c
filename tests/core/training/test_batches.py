"""Batch order and packing: pure functions, checked without a model."""

import random

from app.core.training.batches import collate, collate_packed, epoch_order, steps_per_epoch
from app.core.training.tokenizer import IGNORE, Encoded


def _example(n: int, start: int) -> Encoded:
    ids = list(range(start, start + n))
    return Encoded(ids, [IGNORE] * (n // 2) + ids[n // 2:])


def test_the_order_is_fixed_by_seed_and_epoch_and_grouping_cuts_padding():
    rng = random.Random(1)
    lengths = [rng.randint(8, 400) for _ in range(256)]
    first = epoch_order(256, 8, seed=3, epoch=0, group_by_length=True, lengths=lengths)
    assert first == epoch_order(256, 8, seed=3, epoch=0, group_by_length=True, lengths=lengths)
    assert first != epoch_order(256, 8, seed=3, epoch=1, group_by_length=True, lengths=lengths)
    assert sorted(i for b in first for i in b) == list(range(256)), "every example once per epoch"
    plain = epoch_order(256, 8, seed=3, epoch=0, group_by_length=False, lengths=lengths)

    def padding(order):
        return sum(len(b) * max(lengths[i] for i in b) - sum(lengths[i] for i in b) for b in order)

    assert padding(first) < padding(plain) / 4
    assert steps_per_epoch(256, 8, 2) == 16 and steps_per_epoch(3, 8, 1) == 1


def test_packing_lays_examples_end_to_end_with_their_own_positions():
    items = [_example(n, 1000 * i) for i, n in enumerate((50, 20, 30, 90, 10, 60))]
    packed = collate_packed(items, pad_id=0, row_length=100)
    padded = collate(items, pad_id=0)
    assert all(len(row) <= 100 for row in packed.input_ids)
    assert len(packed.input_ids) < len(items) and packed.padded_tokens < padded.padded_tokens
    assert packed.real_tokens == padded.real_tokens == sum(len(e.input_ids) for e in items)
    for row_ids, row_labels, row_positions in zip(packed.input_ids, packed.labels, packed.position_ids, strict=True):
        starts = [i for i, p in enumerate(row_positions) if p == 0]
        for a, b in zip(starts, starts[1:] + [len(row_ids)], strict=True):
            assert row_positions[a:b] == list(range(b - a)), "positions start again for every example"
            assert row_labels[a] == IGNORE, "no example's first token is predicted from the one before it"
    assert packed.trained_tokens == padded.trained_tokens, "the same tokens are learned from either way"


def test_an_example_longer_than_the_row_gets_a_row_of_its_own():
    packed = collate_packed([_example(150, 0), _example(20, 500)], pad_id=0, row_length=100)
    assert max(len(row) for row in packed.input_ids) == 150
