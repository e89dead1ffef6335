"""Training recipes: a whole training run described as data, and the one stream that runs it.

A :class:`Recipe` names an architecture (an MLP's hidden sizes, or any network as a spec of
:mod:`functional_nn.specs`), an optimizer, a schedule, a batch size, a number of
epochs and a seed. :func:`epoch_stream` runs one on arrays as a lazy stream of epochs, each
with its :class:`EpochRecord`; :func:`train` consumes it whole into a :class:`RunResult`. The
CLI's ``train`` watches the stream, sweeps and the benchmarks call :func:`train`, so a recipe
gives the same result wherever it runs.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    real,
    sizes,
)
from .flat import Flat, flatten, unflatten
from .layers import ACTIVATIONS, Sequential, mlp, param_count
from .metrics import evaluate
from .rules import init_state
from .specs import batch_for, blueprint, check_spec, network, sample_floats
from .train import TrainState, epochs, fit_iter, steps_per_epoch, train_step

__all__ = [
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "Epoch",
    "EpochRecord",
    "Recipe",
    "RunResult",
    "Watch",
    "build_optimizer",
    "build_params",
    "epoch_plan",
    "epoch_stream",
    "memory_estimate",
    "model_spec",
    "train",
]

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine", "exponential", "warmup-cosine")


def _one_of(choices: tuple[str, ...]) -> Callable[[object, attrs.Attribute[str], str], None]:
    return as_attrs_validator(functools.partial(one_of, choices=choices))


def _hidden(value: object) -> tuple[int, ...]:
    return sizes("hidden sizes", value)


def _model(value: object) -> str | None:
    return None if value is None else check_spec(value)


_positive = as_attrs_validator(positive)
_positive_int = as_attrs_validator(positive_int)
_non_negative = as_attrs_validator(non_negative)


@attrs.frozen(kw_only=True)
class Recipe:
    """Everything that decides a training run, validated on construction.

    ``model``, a spec of :mod:`functional_nn.specs` (kept in its canonical spelling), is the
    whole network; without one (``None``) the network is the MLP of ``hidden`` sizes with
    ``activation`` between them, as before there were specs.
    ``schedule`` shapes the learning rate over all steps: ``cosine`` decays to zero,
    ``exponential`` halves it every epoch, ``warmup-cosine`` warms up linearly over
    ``warmup_epochs`` then decays. ``clip`` (global-norm clipping) and ``weight_decay`` (AdamW's
    decoupled decay, or L2 added to the gradient for the others) are off at 0.
    """

    hidden: tuple[int, ...] = attrs.field(default=(16, 16), converter=_hidden)
    activation: str = attrs.field(default="relu", validator=_one_of(tuple(ACTIVATIONS)))
    model: str | None = attrs.field(default=None, converter=_model)
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
    # a small convnet for the MNIST family (benchmarks/time_to_accuracy.py): two conv blocks
    # (16 and 32 filters, half the Keras example's: well under half its time per step), a
    # Dense 128 and Dropout 0.5 (108,618 parameters); Adam at 2e-3 after a 0.3-epoch warmup,
    # cosine decay over 10 epochs of 128. MNIST: 99.0% after epoch 3 or 4, 99.26-99.32% at
    # the end (seeds 0 and 1, one or two BLAS threads); 8 epochs left seed 1 at 99.19%.
    "convnet": Recipe(model="conv3x3-16,relu,maxpool2,conv3x3-32,relu,maxpool2,flatten,"
                            "dense128,relu,dropout0.5,dense10", learning_rate=2e-3,
                      schedule="warmup-cosine", warmup_epochs=0.3, batch_size=128, epochs=10),
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


def model_spec(recipe: Recipe, classes: int) -> str:
    """The spec of the recipe's network: its ``model``, or the spec of its MLP.

    >>> model_spec(Recipe(hidden=(16, 16)), 10)
    'dense16,relu,dense16,relu,dense10'
    """
    if recipe.model is not None:
        return recipe.model
    return ",".join([*(f"dense{size},{recipe.activation}" for size in recipe.hidden),
                     f"dense{classes}"])


def _shape(input_shape: int | Sequence[int]) -> tuple[int, ...]:
    return (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)


def build_params(recipe: Recipe, input_shape: int | Sequence[int], classes: int,
                 dtype: npt.DTypeLike = np.float32) -> Sequential:
    """The recipe's initial network for samples of ``input_shape`` (an int: features), with
    ``classes`` outputs: its ``model`` (``SpecError`` naming the token that does not fit), or
    the MLP ``prod(input_shape)`` → hidden sizes → ``classes``."""
    shape = _shape(input_shape)
    if recipe.model is None:
        sizes = [math.prod(shape), *recipe.hidden, classes]
        return mlp(sizes, seed=recipe.seed, activation=recipe.activation, dtype=dtype)
    return network(recipe.model, shape, seed=recipe.seed, dtype=dtype, classes=classes)


@attrs.frozen
class EpochRecord:
    """What one epoch of a run did: the one history record of recipes, the CLI and sweeps.

    ``steps`` is the epoch's number of steps (fewer than a whole epoch when a run stops at a
    step limit), ``step`` the run's count after it; ``train_loss`` is the mean of its batches'
    losses, each measured before its update; ``seconds`` is training time only (the evaluation
    on the test set after the epoch is not counted).
    """

    epoch: int
    steps: int
    step: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    seconds: float

    def to_json(self) -> dict[str, object]:
        """JSON values: NaN and infinities become ``None``, seconds are rounded to ms."""
        out = {k: v if not isinstance(v, float) or math.isfinite(v) else None
               for k, v in attrs.asdict(self).items()}
        return {**out, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> EpochRecord:
        """The record :meth:`to_json` wrote; ``KeyError``, ``TypeError`` or ``ValueError`` else.

        Metrics files written before there was one record type say ``loss`` for ``train_loss``.
        """
        fields = {**obj, "train_loss": obj["train_loss"] if "train_loss" in obj else obj["loss"]}

        def number(name: str) -> float:
            value = fields[name]
            return math.nan if value is None else real(name, value)

        return cls(epoch=positive_int("epoch", fields["epoch"]),
                   steps=non_negative_int("steps", fields["steps"]),
                   step=non_negative_int("step", fields["step"]),
                   train_loss=number("train_loss"), test_loss=number("test_loss"),
                   test_accuracy=number("test_accuracy"), seconds=number("seconds"))


@attrs.frozen
class RunResult:
    """A finished run: its recipe, final state and per-epoch history."""

    recipe: Recipe
    state: TrainState[Flat[Sequential], Any]
    history: tuple[EpochRecord, ...]

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else math.nan


Arrays = npt.NDArray[np.generic]
State = TrainState[Flat[Sequential], Any]

Watch = Callable[[Iterator[State], int, int], Iterator[State]]
"""Sees an epoch's lazy stream of states, with the epoch's index and number of steps, and yields
every state on (through a progress bar, say)."""


@attrs.frozen(eq=False)
class Epoch:
    """One finished epoch of a run: the state after it, its record, and each step's loss."""

    state: State
    record: EpochRecord
    losses: npt.NDArray[np.float64]


def epoch_plan(per_epoch: int, epoch_count: int, max_steps: int | None = None) -> list[int]:
    """The number of steps of each epoch of a run, the last one cut short by ``max_steps``.

    >>> epoch_plan(10, 3), epoch_plan(10, 3, max_steps=15), epoch_plan(0, 3)
    ([10, 10, 10], [10, 5], [])
    """
    total = per_epoch * epoch_count
    if max_steps is not None:
        total = min(total, max_steps)
    return [min(per_epoch, total - start) for start in range(0, total, per_epoch or 1)]


def _unwatched(states: Iterator[State], epoch: int, steps: int) -> Iterator[State]:
    return states


def _remaining(plan: list[int], per_epoch: int, start: int) -> list[tuple[int, int]]:
    """The epochs of ``plan`` (by index) and how many of their steps come after step
    ``start``: what a run resumed at ``start`` still has to do."""
    return [(e, n - max(0, start - e * per_epoch)) for e, n in enumerate(plan)
            if e * per_epoch + n > start]


def _check_finite(x: Arrays) -> None:
    """Refuse non-finite inputs up front: they would show as divergence, blamed on the
    learning rate."""
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])
        raise ValueError(f"the training inputs hold NaN or infinity (first in sample {row}); "
                         "training on them cannot work, whatever the learning rate")


def epoch_stream(recipe: Recipe, x: Arrays, y: Arrays, test_x: Arrays, test_y: Arrays, *,
                 classes: int = 10, params: Sequential | None = None,
                 max_steps: int | None = None, watch: Watch | None = None,
                 state: State | None = None) -> Iterator[Epoch]:
    """The lazy stream of a run's epochs, each evaluated on the test set when it ends.

    One :func:`~functional_nn.fit_iter` stream of states over all the run's batches, cut into
    epochs: the recipe's step folded over :func:`~functional_nn.epochs`, from ``params`` (by
    default the recipe's own, :func:`build_params`), stopping after ``max_steps`` steps if
    given, on a :class:`~functional_nn.flat.Flat` of them (``unflatten(state.params)`` is the
    network). ``watch`` sees each epoch's states as they are made. Deterministic: the same
    recipe and data give bit-identical states.

    The state carries the network's model state (BatchNorm's running statistics), and the
    step's random key is ``(recipe.seed, step)`` (Dropout's masks).
    ``state``, a state of this run (from a checkpoint), resumes it: the stream goes on from
    ``state.step`` (its first epoch the rest of the one it stopped in) and is bit-identical
    to the same epochs of the run never stopped, since batches come from ``(seed, epoch)``.

    Raises ``ValueError`` at once when ``x`` is empty or holds NaN or infinity.
    """
    per_epoch = steps_per_epoch(len(x), recipe.batch_size)
    plan = epoch_plan(per_epoch, recipe.epochs, max_steps)
    if not plan:
        raise ValueError("no training samples: x is empty")
    _check_finite(x)
    optimizer = build_optimizer(recipe, per_epoch)
    if state is None:
        if params is None:
            params = build_params(recipe, x.shape[1:], classes)
        flat = flatten(params)  # every optimizer transform then runs over one buffer
        state = TrainState(flat, optimizer.init(flat), 0, model_state=init_state(flat))
    elif params is not None:
        raise TypeError("epoch_stream takes params= or state=, not both")
    stream = epochs(x, y, batch_size=recipe.batch_size, seed=recipe.seed, count=len(plan),
                    start_step=state.step)
    states = fit_iter(train_step(optimizer, seed=recipe.seed), state, stream)
    next(states)  # the starting state itself
    batch = batch_for(unflatten(state.params), test_x.shape[1:])
    return _cut(states, _remaining(plan, per_epoch, state.step), test_x, test_y, classes,
                watch or _unwatched, batch)


def _cut(states: Iterator[State], plan: list[tuple[int, int]], test_x: Arrays, test_y: Arrays,
         classes: int, watch: Watch, batch: int) -> Iterator[Epoch]:
    """``states`` cut into the epochs of ``plan`` (index, steps), each evaluated when it ends."""
    for epoch, n in plan:
        started, losses, done = time.perf_counter(), np.empty(n), 0
        for done, state in enumerate(watch(itertools.islice(states, n), epoch, n), 1):
            losses[done - 1] = state.loss
        if done != n:
            raise RuntimeError(f"watch yielded {done} of epoch {epoch + 1}'s {n} states")
        seconds = time.perf_counter() - started
        result = evaluate(state.params, test_x, test_y, classes=classes, batch_size=batch,
                          state=state.model_state)
        record = EpochRecord(epoch + 1, n, state.step, float(losses.mean()), result.loss,
                             result.accuracy, seconds)
        yield Epoch(state, record, losses)


_MOMENTS = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2, "rmsprop": 1}


def memory_estimate(recipe: Recipe, input_shape: int | Sequence[int], classes: int,
                    samples: int, test_samples: int = 0, itemsize: int = 4) -> int:
    """About how many bytes training ``recipe`` takes beyond its data, at ``itemsize`` bytes
    a number (float32: 4), so that a run too large for the machine can be refused up front
    (the network is sized without being built; ``SpecError`` if its spec does not fit).

    A step holds the parameters, the gradient, the update and each of the optimizer's moments
    twice (the old and the new), and a batch's activations: each layer's input, output and
    their gradients, and a convolution's im2col matrix; evaluation batches of 4096 need each
    layer's output once more.
    """
    shape = _shape(input_shape)
    net = blueprint(model_spec(recipe, classes), shape, classes=classes)
    copies = 2 + 2 + 2 * _MOMENTS[recipe.optimizer] + bool(recipe.clip) + bool(
        recipe.weight_decay)
    batch = min(recipe.batch_size, samples)
    activations = max(3 * batch, 2 * min(4096, test_samples)) * sample_floats(net, shape)
    return itemsize * (copies * param_count(net) + activations)


def train(recipe: Recipe, x: Arrays, y: Arrays, test_x: Arrays, test_y: Arrays,
          *, classes: int = 10) -> RunResult:
    """Run ``recipe`` on ``(x, y)``: :func:`epoch_stream` to its end.

    Deterministic: the same recipe and data give bit-identical parameters.
    """
    done = list(epoch_stream(recipe, x, y, test_x, test_y, classes=classes))
    return RunResult(recipe, done[-1].state, tuple(epoch.record for epoch in done))
