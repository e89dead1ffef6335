"""Training recipes: a whole training run described as data, and the pure function that runs it.

A :class:`Recipe` names an architecture, an optimizer, a schedule, a batch size, a number of
epochs and a seed. :func:`train` runs one on arrays and returns a :class:`RunResult`; the CLI's
``train`` and ``sweep`` and the benchmarks all build on it, so a recipe gives the same result
wherever it runs.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from . import optim
from ._validators import (
    as_attrs_validator,
    non_negative,
    non_negative_int,
    one_of,
    positive,
    positive_int,
    sizes,
)
from .layers import ACTIVATIONS, Sequential, mlp
from .metrics import evaluate
from .train import TrainState, epochs, fit_iter, steps_per_epoch, train_step

__all__ = [
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "EpochRecord",
    "Recipe",
    "RunResult",
    "build_optimizer",
    "build_params",
    "epoch_states",
    "train",
]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "exponential", "warmup-cosine")


def _one_of(choices: tuple[str, ...]) -> Callable[[object, attrs.Attribute[str], str], None]:
    return as_attrs_validator(functools.partial(one_of, choices=choices))


def _hidden(value: object) -> tuple[int, ...]:
    return sizes("hidden sizes", value)


_positive = as_attrs_validator(positive)
_positive_int = as_attrs_validator(positive_int)
_non_negative = as_attrs_validator(non_negative)


@attrs.frozen(kw_only=True)
class Recipe:
    """Everything that decides a training run, validated on construction.

    ``schedule`` shapes the learning rate over all steps: ``cosine`` decays to zero,
    ``exponential`` halves it every epoch, ``warmup-cosine`` warms up linearly over
    ``warmup_epochs`` then decays. ``clip`` (global-norm clipping) and ``weight_decay`` (AdamW's
    decoupled decay, or L2 added to the gradient for the others) are off at 0.
    """

    hidden: tuple[int, ...] = attrs.field(default=(16, 16), converter=_hidden)
    activation: str = attrs.field(default="relu", validator=_one_of(tuple(ACTIVATIONS)))
    optimizer: str = attrs.field(default="adam", validator=_one_of(OPTIMIZERS))
    learning_rate: float = attrs.field(default=1e-3, converter=float, validator=_positive)
    schedule: str = attrs.field(default="constant", validator=_one_of(SCHEDULES))
    warmup_epochs: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    batch_size: int = attrs.field(default=32, validator=_positive_int)
    epochs: int = attrs.field(default=5, validator=_positive_int)
    seed: int = attrs.field(default=0, validator=as_attrs_validator(non_negative_int))
    weight_decay: float = attrs.field(default=0.0, converter=float, validator=_non_negative)
    clip: float = attrs.field(default=0.0, converter=float, validator=_non_negative)

    def to_dict(self) -> dict[str, object]:
        """The recipe as JSON-ready data; ``Recipe(**d)`` rebuilds it."""
        return {**attrs.asdict(self), "hidden": list(self.hidden)}


RECIPES: dict[str, Recipe] = {
    # the project's origin: 784-16-16-10 (13,002 parameters)
    "origin": Recipe(),
    # the quickest recipe to 98.0% MNIST test accuracy found (benchmarks/time_to_accuracy.py):
    # 784-256-128-10 (235,146 parameters), Adam at 4e-3 after a 0.3-epoch warmup, cosine decay
    # to zero over 4 epochs of batches of 256. About 2 s of training on 2 cores: 98.1% after
    # epoch 3 and 98.2% after epoch 4 (seeds 1-3: 98.05-98.26% at the end).
    "fast": Recipe(hidden=(256, 128), optimizer="adam", learning_rate=4e-3,
                   schedule="warmup-cosine", warmup_epochs=0.3, batch_size=256, epochs=4),
}


def _schedule(recipe: Recipe, per_epoch: int) -> optim.LearningRate:
    lr, total = recipe.learning_rate, max(recipe.epochs * per_epoch, 1)
    if recipe.schedule == "cosine":
        return optim.cosine_decay(lr, total)
    if recipe.schedule == "exponential":
        return optim.exponential_decay(lr, 0.5, max(per_epoch, 1))
    if recipe.schedule == "warmup-cosine":
        warmup = min(round(recipe.warmup_epochs * per_epoch), total - 1)
        return optim.warmup_cosine_decay(0.0, lr, warmup, total)
    return lr


def build_optimizer(recipe: Recipe, steps_per_epoch: int) -> optim.Optimizer[Any]:
    """The recipe's optimizer, its learning rate scheduled over ``epochs * steps_per_epoch``."""
    lr = _schedule(recipe, steps_per_epoch)
    wd = recipe.weight_decay
    base: optim.Optimizer[Any]
    if recipe.optimizer == "adamw":
        base = optim.adamw(lr, weight_decay=wd)
    else:
        if recipe.optimizer == "sgd":
            base = optim.sgd(lr)
        elif recipe.optimizer == "momentum":
            base = optim.momentum(lr)
        elif recipe.optimizer == "adam":
            base = optim.adam(lr)
        else:
            base = optim.rmsprop(lr)
        if wd:  # L2: the decay joins the gradient before the optimizer sees it
            base = optim.chain(optim.add_decayed_weights(wd), base)
    return optim.chain(optim.clip_by_global_norm(recipe.clip), base) if recipe.clip else base


def build_params(recipe: Recipe, in_features: int, classes: int,
                 dtype: npt.DTypeLike = np.float32) -> Sequential:
    """The recipe's initial network: ``in_features`` → hidden sizes → ``classes``."""
    sizes = [in_features, *recipe.hidden, classes]
    return mlp(sizes, seed=recipe.seed, activation=recipe.activation, dtype=dtype)


@attrs.frozen
class EpochRecord:
    """What one epoch did: mean training loss, test loss and accuracy, training seconds."""

    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    seconds: float


@attrs.frozen
class RunResult:
    """A finished run: its recipe, final state and per-epoch history."""

    recipe: Recipe
    state: TrainState[Sequential, Any]
    history: tuple[EpochRecord, ...]

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else math.nan


Arrays = npt.NDArray[np.generic]


State = TrainState[Sequential, Any]


def epoch_states(recipe: Recipe, x: Arrays, y: Arrays, state: State,
                 optimizer: optim.Optimizer[Any], epoch: int) -> Iterator[State]:
    """The lazy stream of states of one epoch of ``recipe`` from ``state`` (itself excluded)."""
    stream = epochs(x, y, batch_size=recipe.batch_size, seed=recipe.seed, count=epoch + 1,
                    start_step=state.step)
    states = fit_iter(train_step(optimizer), state, stream)
    next(states)  # the starting state itself
    return states


def train(recipe: Recipe, x: Arrays, y: Arrays, test_x: Arrays, test_y: Arrays,
          *, classes: int = 10) -> RunResult:
    """Run ``recipe`` on ``(x, y)``, evaluating on the test set after every epoch.

    Deterministic: the same recipe and data give bit-identical parameters.
    """
    per_epoch = steps_per_epoch(len(x), recipe.batch_size)
    optimizer = build_optimizer(recipe, per_epoch)
    params = build_params(recipe, int(np.prod(x.shape[1:])), classes)
    state: TrainState[Sequential, Any] = TrainState(params, optimizer.init(params), 0)
    history: list[EpochRecord] = []
    for epoch in range(recipe.epochs):
        start, losses = time.perf_counter(), []
        for new in epoch_states(recipe, x, y, state, optimizer, epoch):
            losses.append(new.loss)
            state = new
        seconds = time.perf_counter() - start
        result = evaluate(state.params, test_x, test_y, classes=classes)
        history.append(EpochRecord(epoch + 1, float(np.mean(losses)), result.loss,
                                   result.accuracy, seconds))
    return RunResult(recipe, state, tuple(history))
