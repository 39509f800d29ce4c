"""Defaults that follow the data: steps, learning rate and evaluation cadence chosen from the dataset's size and
token count and the model's size, so a job started with the default options learns (placeholder: the values are
left as they are until the recipe is measured)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataShape:
    examples: int  # SFT examples in the training split
    tokens: int  # their trained (reply) tokens
    pairs: int = 0  # preference pairs in the training split
    unpaired: int = 0  # lone rated replies used as preferences


@dataclass(frozen=True)
class Recipe:
    max_steps: int
    learning_rate: float
    eval_every: int
    note: str  # for the form: "Chosen for 60 examples: 40 steps, learning rate 5e-4, held-out loss every 10 steps"


def choose(shape: DataShape, model_params: int | None, options: dict) -> Recipe:
    return Recipe(options["max_steps"], options["learning_rate"], options["eval_every"], "")


def apply(options: dict, shape: DataShape, model_params: int | None) -> tuple[dict, str]:
    """The options a job runs with: when `fit_to_data` is on, the recipe's values replace steps, learning rate and
    eval cadence; the note says what was chosen and why."""
    if not options.get("fit_to_data", True):
        return options, ""
    recipe = choose(shape, model_params, options)
    return {**options, "max_steps": recipe.max_steps, "learning_rate": recipe.learning_rate,
            "eval_every": recipe.eval_every}, recipe.note
