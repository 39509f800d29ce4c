"""The data-fitted recipe: what it chooses for small, large and preference-only datasets, and that what a person
set explicitly always wins (fast: no model, no training)."""

import pytest

from app.core.training import recipe
from app.core.training.batches import steps_per_epoch
from app.core.training.options import job_options
from app.core.training.recipe import DataShape, apply

STARTER = 134_515_008
PERSONA = DataShape(examples=54, tokens=1_650)  # the persona set's training split
DEFAULTS = job_options({})


def test_a_persona_sized_set_gets_fewer_steps_at_a_higher_rate_than_the_fixed_defaults():
    options, note = apply({}, PERSONA, STARTER)
    fixed_steps = DEFAULTS["epochs"] * steps_per_epoch(PERSONA.examples, DEFAULTS["batch_size"], 1)
    assert recipe.MIN_STEPS <= options["max_steps"] < fixed_steps
    assert options["learning_rate"] > DEFAULTS["learning_rate"]
    assert note == (f"Chosen for 54 examples (1,650 reply tokens) on a 135M model: {options['max_steps']} steps, "
                    f"learning rate 1e-3, held-out loss every {options['eval_every']} steps.")
    assert job_options(options) == options, "the chosen options are valid job options"


def test_what_the_caller_set_wins_and_the_note_names_only_the_rest():
    options, note = apply({"learning_rate": 3e-4, "max_steps": 70}, PERSONA, STARTER)
    assert options["learning_rate"] == 3e-4 and options["max_steps"] == 70
    assert options["eval_every"] == 15, "five evaluations over the 70 steps set"
    assert "learning rate" not in note and "70" not in note
    assert note.endswith(f"held-out loss every {options['eval_every']} steps; the rest as you set.")


def test_epochs_given_without_max_steps_keep_counting_in_epochs():
    options, note = apply({"epochs": 5}, PERSONA, STARTER)
    assert options["max_steps"] == 0 and options["epochs"] == 5
    assert options["eval_every"] == recipe.eval_cadence(5 * 14)
    assert " steps," not in note.split(":")[1] and "learning rate" in note


@pytest.mark.parametrize("given", [{"fit_to_data": False}, {"fit_to_data": False, "learning_rate": 5e-4},
                                   {"max_steps": 12, "learning_rate": 1e-3, "eval_every": 4}])
def test_off_or_all_set_leaves_the_options_exactly_as_given(given):
    options, note = apply(given, PERSONA, STARTER)
    assert options == job_options(given) and note == ""


def test_the_learning_rate_falls_with_model_size_and_stays_in_lora_range():
    rates = [recipe.learning_rate(n) for n in (135e6, 494e6, 1.7e9, 7e9, 70e9)]
    assert rates == sorted(rates, reverse=True) and rates[0] > rates[-1]
    assert all(recipe.LR_RANGE[0] <= r <= recipe.LR_RANGE[1] for r in rates)
    assert 1e-4 <= recipe.learning_rate(7e9) <= 2e-4, "LoRA's usual rate for a 7B model"
    assert recipe.learning_rate(None) == recipe.LR_UNKNOWN_MODEL


def test_a_tiny_set_still_gets_enough_steps_to_move_the_adapter():
    options, _ = apply({}, DataShape(examples=8, tokens=120), STARTER)
    assert options["max_steps"] == recipe.MIN_STEPS


def test_a_big_set_is_capped_to_minutes_and_the_note_says_so():
    big = DataShape(examples=5_000, tokens=400_000)
    options, note = apply({}, big, STARTER)
    assert options["max_steps"] < steps_per_epoch(big.examples, DEFAULTS["batch_size"], 1), "less than one pass"
    assert "capped" in note and "set max steps" in note
    tokens = options["max_steps"] * DEFAULTS["batch_size"] * big.tokens / big.examples * recipe.SEQUENCE_PER_REPLY_TOKEN
    assert tokens / 170 < 15 * 60, "about ten minutes at the starter model's 170 tokens/s on a 2-core CPU"
    bigger, _ = apply({}, big, 1_700_000_000)
    assert bigger["max_steps"] < options["max_steps"], "a larger model costs more a token"
    mid, note = apply({}, DataShape(examples=300, tokens=9_000), STARTER)
    assert mid["max_steps"] == round(recipe.PASSES * 75) and "capped" not in note


def test_more_examples_never_mean_fewer_steps_until_the_cap():
    totals = [apply({}, DataShape(n, 30 * n), STARTER)[0]["max_steps"] for n in (4, 20, 60, 120, 300, 600, 2_000)]
    assert totals == sorted(totals)


@pytest.mark.parametrize("n", [4, 54, 300, 5_000])
def test_evaluation_comes_five_to_ten_times_a_run(n):
    options, _ = apply({}, DataShape(n, 30 * n), STARTER)
    evaluations = options["max_steps"] // options["eval_every"] + 1  # the one at the start too
    assert 5 <= evaluations <= 10, options


def test_preferences_alone_train_over_the_pairs_at_a_gentler_rate():
    shape = DataShape(examples=0, tokens=0, pairs=40, unpaired=10)
    options, note = apply({}, shape, STARTER)
    assert options["max_steps"] >= recipe.PASSES * steps_per_epoch(50, DEFAULTS["batch_size"], 1)
    assert options["learning_rate"] < apply({}, PERSONA, STARTER)[0]["learning_rate"]
    assert note.startswith("Chosen for 40 preference pairs and 10 lone thumbs-down on a 135M model:")


def test_preferences_beside_examples_count_in_the_epoch_and_the_cost():
    mixed = DataShape(examples=54, tokens=1_650, pairs=200)
    options, note = apply({}, mixed, STARTER)
    assert options["max_steps"] > apply({}, PERSONA, STARTER)[0]["max_steps"], "an epoch is a pass over the pairs"
    assert "54 examples (1,650 reply tokens) and 200 preference pairs" in note
    sft_only, _ = apply({"objective": "sft"}, mixed, STARTER)
    assert sft_only["max_steps"] == apply({}, PERSONA, STARTER)[0]["max_steps"], "imitation alone ignores the pairs"


def test_the_shape_comes_from_encoded_examples():
    from app.core.training.tokenizer import IGNORE, Encoded

    items = [Encoded([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4]), Encoded([1, 2, 3], [IGNORE, 2, 3])]
    assert DataShape.of(items, pairs=3) == DataShape(examples=2, tokens=4, pairs=3, unpaired=0)
