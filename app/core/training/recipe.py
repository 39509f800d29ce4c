"""Defaults that follow the data: steps, learning rate and evaluation cadence chosen from the dataset's size and
token count and the model's size, so a job started with the default options learns.

Measured on SmolLM2-135M with a persona set of 60 short chats (tests/helpers/persona_set.py, 54 for training):
the fixed defaults (learning rate 2e-4, 3 epochs = 42 steps) took the voice on 6 of 10 new topics (eval loss
4.00 -> 1.97); learning rate 1e-3 for 28 steps (two passes) on all 10 (eval loss 1.56), with a third fewer steps.
The base model: 0 of 10. The rule:
- learning rate by model size: small models take (and need) a higher one; it falls with the square root of the
  parameter count, and LoRA's usual 1e-4 to 2e-4 comes out for 7B models;
- steps: a couple of passes over the examples, never fewer than a LoRA adapter needs to move, and capped so a
  job on a large dataset stays a matter of minutes on a laptop CPU (the cap is in examples' tokens, scaled by the
  model's cost per token);
- held-out loss about five times a run (and at the start), on round numbers past ten.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.training.batches import steps_per_epoch
from app.core.training.options import job_options

TUNED = ("max_steps", "learning_rate", "eval_every")
REFERENCE_PARAMS = 135e6  # the starter model, on which the constants were measured
LR_AT_REFERENCE = 1e-3
LR_RANGE = (5e-5, 2e-3)
LR_UNKNOWN_MODEL = 2e-4  # no parameter count: LoRA's usual rate
# Preferences alone run gentler: with no replies to imitate, DPO can widen a gap by pushing both replies down, and
# it is usually run at a lower rate than imitation (a common practice, not measured here).
PREFERENCE_ONLY_LR_SHARE = 0.5
PASSES = 2.0  # over the training examples (or preference records, whichever are more)
MIN_STEPS = 20  # fewer optimiser steps leave a LoRA adapter near where it started, however small the dataset
# The cap: about ten minutes of steps on a 2-core laptop CPU for the starter model (170 tokens/s), counting a reply's
# prompt as long again as the reply; a model N times larger gets N times fewer tokens.
BUDGET_TOKENS = 100_000
SEQUENCE_PER_REPLY_TOKEN = 2.0
PAIR_COST = 2.5  # a pair: two sequences through the adapter, and the base's log-probs for both
UNPAIRED_COST = PAIR_COST / 2
EVALUATIONS = 5  # held-out loss this many times a run, the last at the end (and once more at the start)
DEFAULT_REPLY_TOKENS = 64  # per record, when the shape has no SFT examples to measure


@dataclass(frozen=True)
class DataShape:
    examples: int  # SFT examples in the training split
    tokens: int  # their trained (reply) tokens
    pairs: int = 0  # preference pairs in the training split
    unpaired: int = 0  # lone thumbs-down replies (made less likely, KTO)

    @classmethod
    def of(cls, examples: Iterable, pairs: int = 0, unpaired: int = 0) -> DataShape:
        """From the training split's encoded examples (anything with a `trained` token count)."""
        counts = [e.trained for e in examples]
        return cls(len(counts), sum(counts), pairs, unpaired)

    @property
    def mean_reply_tokens(self) -> float:
        return self.tokens / self.examples if self.examples and self.tokens else DEFAULT_REPLY_TOKENS


@dataclass(frozen=True)
class Recipe:
    max_steps: int
    learning_rate: float
    eval_every: int
    note: str  # for the form: "Chosen for 60 examples: 40 steps, learning rate 5e-4, held-out loss every 10 steps"
    capped: bool = False  # the steps were cut to keep the job short


def learning_rate(model_params: int | None, preferences_only: bool = False) -> float:
    if not model_params or model_params <= 0:
        rate = LR_UNKNOWN_MODEL
    else:
        rate = LR_AT_REFERENCE * math.sqrt(REFERENCE_PARAMS / model_params)
        rate = min(max(rate, LR_RANGE[0]), LR_RANGE[1])
    if preferences_only:
        rate *= PREFERENCE_ONLY_LR_SHARE
    return float(f"{rate:.1g}")  # a round number a person can read and type


def step_budget(shape: DataShape, model_params: int | None, batch: int, accum: int) -> int:
    """The most steps that keep a job to minutes on a laptop CPU."""
    scale = max(1.0, (model_params or REFERENCE_PARAMS) / REFERENCE_PARAMS)
    preference = PAIR_COST if shape.pairs else UNPAIRED_COST if shape.unpaired else 0.0
    sequences = (1.0 if shape.examples else 0.0) + preference  # what one step's records cost, in SFT examples
    per_step = batch * accum * max(sequences, 1.0) * shape.mean_reply_tokens * SEQUENCE_PER_REPLY_TOKEN
    return max(MIN_STEPS, int(BUDGET_TOKENS / scale / per_step))


def per_epoch(shape: DataShape, batch: int, accum: int) -> int:
    return steps_per_epoch(max(shape.examples, shape.pairs + shape.unpaired, 1), batch, accum)


def steps(shape: DataShape, model_params: int | None, batch: int, accum: int) -> tuple[int, bool]:
    """(steps, capped). Each step takes a batch of examples and a batch of preference records, each cycling on its
    own, so an epoch is a pass over whichever of the two is larger."""
    wanted = max(MIN_STEPS, math.ceil(PASSES * per_epoch(shape, batch, accum)))
    budget = step_budget(shape, model_params, batch, accum)
    return min(wanted, budget), wanted > budget


def eval_cadence(total_steps: int) -> int:
    every = max(1, round(total_steps / EVALUATIONS))
    return every if every < 10 else 5 * round(every / 5)


def _trained_on(shape: DataShape, options: dict) -> DataShape:
    if options.get("objective") == "sft":
        return DataShape(shape.examples, shape.tokens)  # the preferences take no part in this job
    return shape


def choose(shape: DataShape, model_params: int | None, options: dict) -> Recipe:
    shape = _trained_on(shape, options)
    preferences_only = not shape.examples and bool(shape.pairs or shape.unpaired)
    total, capped = steps(shape, model_params, options["batch_size"], options["grad_accum"])
    rate = learning_rate(model_params, preferences_only)
    every = eval_cadence(total)
    return Recipe(total, rate, every, _note(shape, model_params, total, rate, every, capped, set()), capped)


def apply(given: dict, shape: DataShape, model_params: int | None) -> tuple[dict, str]:
    """The options a job runs with, and a line for the form saying what was chosen. `given` is what the caller set
    (the form's changed fields, a job file, the command line): with `fit_to_data` on, the recipe fills steps,
    learning rate and eval cadence, except those given (epochs given without max steps count as steps given)."""
    options = job_options(given)
    if not options["fit_to_data"]:
        return options, ""
    kept = {key for key in TUNED if key in given}
    if "epochs" in given and "max_steps" not in given:
        kept.add("max_steps")
    if kept == set(TUNED):
        return options, ""
    recipe = choose(shape, model_params, options)
    total = recipe.max_steps
    if "max_steps" in kept:  # the evaluations follow the run's real length
        trained = _trained_on(shape, options)
        total = options["max_steps"] or options["epochs"] * per_epoch(trained, options["batch_size"],
                                                                      options["grad_accum"])
    chosen = {"max_steps": recipe.max_steps, "learning_rate": recipe.learning_rate, "eval_every": eval_cadence(total)}
    resolved = job_options({**options, **{k: v for k, v in chosen.items() if k not in kept}})
    note = _note(shape, model_params, recipe.max_steps, recipe.learning_rate, chosen["eval_every"],
                 recipe.capped and "max_steps" not in kept, kept)
    return resolved, note


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _rate(rate: float) -> str:
    """5e-4 rather than 0.0005 or 5e-04: how learning rates are written."""
    mantissa, exponent = f"{rate:.1e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _params(model_params: int | None) -> str:
    if not model_params:
        return "a model of unknown size"
    size = f"{model_params / 1e9:.1f}B" if model_params >= 1e9 else f"{model_params / 1e6:.0f}M"
    return f"a {size} model"


def _note(shape: DataShape, model_params: int | None, total: int, rate: float, every: int, capped: bool,
          kept: set[str]) -> str:
    data = []
    if shape.examples:
        data.append(f"{_count(shape.examples, 'example')} ({_count(shape.tokens, 'reply token')})")
    if shape.pairs:
        data.append(_count(shape.pairs, "preference pair"))
    if shape.unpaired:
        data.append(_count(shape.unpaired, "lone thumbs-down", "lone thumbs-down"))
    what = " and ".join([", ".join(data[:-1]), data[-1]] if len(data) > 1 else data) or "no examples"
    parts = []
    if "max_steps" not in kept:
        parts.append(_count(total, "step") + (" (capped to keep the job to minutes on a laptop CPU; set max "
                                              "steps for a longer run)" if capped else ""))
    if "learning_rate" not in kept:
        parts.append(f"learning rate {_rate(rate)}")
    if "eval_every" not in kept:
        parts.append(f"held-out loss every {_count(every, 'step')}")
    rest = "; the rest as you set" if kept else ""
    return f"Chosen for {what} on {_params(model_params)}: {', '.join(parts)}{rest}."
