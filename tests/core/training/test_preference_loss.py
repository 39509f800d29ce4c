"""The preference objective's math and the preference units, without a model."""

import math

import pytest

from app.core.training.preference_loss import dpo_losses, score, sequence_logps, undesirable_losses
from app.core.training.preference_units import Unit, collate_units, new_examples
from app.core.training.tokenizer import IGNORE, Encoded

torch = pytest.importorskip("torch", reason="the training extra is not installed")


def test_dpo_is_ln2_at_the_reference_and_falls_as_the_margin_grows():
    same = torch.tensor([-12.0, -30.0])
    assert dpo_losses(same, same - 3, same, same - 3, 0.1).tolist() == pytest.approx([math.log(2)] * 2)
    ahead = dpo_losses(torch.tensor([-10.0]), torch.tensor([-20.0]), torch.tensor([-12.0]), torch.tensor([-18.0]), 0.1)
    assert float(ahead) == pytest.approx(-math.log(1 / (1 + math.exp(-0.1 * 4))))


def test_a_thumbs_down_costs_half_at_the_reference_and_less_once_less_likely():
    ref = torch.tensor([-8.0])
    assert float(undesirable_losses(ref, ref, 0.1)) == pytest.approx(0.5)
    assert float(undesirable_losses(ref - 5, ref, 0.1)) < 0.5 < float(undesirable_losses(ref + 5, ref, 0.1))


def test_sequence_logps_sum_each_rows_tokens():
    sums = sequence_logps(torch.tensor([-1.0, -2.0, -0.5, -4.0]), torch.tensor([0, 0, 2, 2]), 3)
    assert sums.tolist() == [-3.0, 0.0, -4.5]


def test_score_counts_pairs_where_the_preferred_reply_is_likelier():
    assert score([], []).accuracy is None and score([], []).pairs == 0
    result = score([-5.0, -9.0, -1.0, -2.0], [-6.0, -3.0, -4.0, -2.0])
    assert (result.pairs, result.accuracy, result.margin) == (4, 0.5, pytest.approx((1 - 6 + 3 + 0) / 4))


def _seq(n: int, reply: int) -> Encoded:
    return Encoded(list(range(1, n + 1)), [IGNORE] * (n - reply) + list(range(n - reply + 1, n + 1)))


def test_units_lay_all_their_sequences_in_one_batch_and_know_their_rows():
    units = [Unit((_seq(5, 2), _seq(7, 3))), Unit((_seq(4, 1),)), Unit((_seq(6, 2), _seq(3, 1)))]
    batch = collate_units([2, 1, 0], units, pad_id=0)
    assert len(batch.batch.input_ids) == 5 and all(len(row) == 7 for row in batch.batch.input_ids)
    assert (batch.chosen, batch.rejected, batch.pair_units) == ([0, 3], [1, 4], [2, 0])
    assert (batch.undesirable, batch.undesirable_units) == ([2], [1])


def test_a_lone_thumbs_up_already_among_the_examples_is_not_added_twice():
    a, b = _seq(5, 2), _seq(6, 2)
    assert new_examples([a, b, b], [a]) == [b]
