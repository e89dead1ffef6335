"""The configuration of a ``train`` run: the recipe it starts from, with the flags applied.

A run is a :class:`functional_nn.recipes.Recipe` (architecture, optimizer, schedule, batch
size, epochs, seed) plus what only the command line decides: the dataset and a step limit. The
recipe comes from the library's table of named recipes (``origin`` by default), explicit flags
override its values, and the library's builders turn it into the network and the optimizer,
so ``train``, ``sweep`` and the benchmarks give the same result for the same recipe (with the
same number of BLAS threads: OpenBLAS's float32 bits depend on it, and sweep workers use one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import attrs

from .. import _validators as validators
from .._validators import as_attrs_validator
from ..recipes import RECIPES, Recipe
from .errors import UsageError

__all__ = ["DEFAULT_RECIPE", "RECIPE_OPTIONS", "RunConfig", "describe", "resolve"]

DEFAULT_RECIPE = "origin"
"""The recipe of a run without ``--recipe``: the origin's 784-16-16-10 network."""

RECIPE_OPTIONS: dict[str, str] = {
    "hidden": "hidden", "activation": "activation", "model": "model", "optimizer": "optimizer",
    "lr": "learning_rate", "schedule": "schedule", "warmup_epochs": "warmup_epochs",
    "batch_size": "batch_size", "epochs": "epochs", "seed": "seed",
    "weight_decay": "weight_decay", "clip": "clip",
}
"""Command-line option (``argparse`` dest) → the :class:`Recipe` field it overrides."""


@attrs.frozen(kw_only=True)
class RunConfig:
    """A training run as the CLI runs it: a recipe, the dataset, and an optional step limit."""

    recipe: Recipe = attrs.field(factory=Recipe)
    recipe_name: str = DEFAULT_RECIPE
    dataset: str = "mnist"
    max_steps: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(as_attrs_validator(validators.positive_int)))

    def to_json(self) -> dict[str, object]:
        """The whole configuration as plain JSON values: the recipe's fields and the CLI's."""
        return {"recipe": self.recipe_name, "dataset": self.dataset,
                "max_steps": self.max_steps, **self.recipe.to_dict()}


def resolve(recipe: str | None, options: Mapping[str, object]) -> RunConfig:
    """The named recipe with the options that were given (not ``None``) replacing its values."""
    name = recipe or DEFAULT_RECIPE
    if name not in RECIPES:
        raise UsageError(f"unknown recipe {name!r}; choose from {', '.join(sorted(RECIPES))}")
    changes = {field: options[option] for option, field in RECIPE_OPTIONS.items()
               if options.get(option) is not None}
    mlp_only = [f"--{option}" for option in ("hidden", "activation") if option in changes]
    if mlp_only and (changes.get("model") or RECIPES[name].model) is not None:
        given = "--model" if "model" in changes else f"recipe {name}'s model"
        raise UsageError(f"{' and '.join(mlp_only)} shape{'s' * (len(mlp_only) == 1)} an MLP "
                         f"but {given} is the whole network: write the network you want "
                         "with --model")
    schedule = changes.get("schedule") or RECIPES[name].schedule
    if "warmup_epochs" in changes and schedule != "warmup-cosine":
        raise UsageError(f"--warmup-epochs sets the warm-up of --schedule warmup-cosine, but "
                         f"this run's schedule is {schedule}")
    try:
        # The values were parsed by the options' types; the recipe validates them once more.
        chosen = attrs.evolve(RECIPES[name], **cast("dict[str, Any]", changes))
        dataset = options.get("dataset") or "mnist"
        steps = options.get("max_steps")
        return RunConfig(recipe=chosen, recipe_name=name, dataset=str(dataset),
                         max_steps=steps if isinstance(steps, int) else None)
    except (TypeError, ValueError) as error:
        raise UsageError(str(error)) from None


def describe(recipe: Recipe, steps: int) -> str:
    """One line naming the optimizer settings and the length of the run."""
    extras = [f"{name} {value:g}" for name, value in (
        ("warmup epochs", recipe.warmup_epochs if recipe.schedule == "warmup-cosine" else 0),
        ("weight decay", recipe.weight_decay), ("clip", recipe.clip)) if value]
    return (f"{recipe.optimizer} lr {recipe.learning_rate:g} "
            f"({', '.join([recipe.schedule, *extras])}), batch {recipe.batch_size}, "
            f"{recipe.epochs} epoch{'s' * (recipe.epochs != 1)}, {steps:,} steps, "
            f"seed {recipe.seed}")
