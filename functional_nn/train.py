"""The training fold: a pure step ``(TrainState, batch) -> TrainState`` folded over batches.

``fit`` is ``toolz.reduce`` and ``fit_iter`` is ``toolz.accumulate`` of the same step, so a
progress bar or a logger watches the lazy stream of states instead of registering callbacks.
Several epochs are one concatenated stream of batches (:func:`epochs`), shuffled from
``(seed, epoch)`` alone, so training can resume at any step and continue bit-identically.
A network with model state (BatchNorm's running statistics) carries it in the state too:
``TrainState(params, opt.init(params), model_state=init_state(params))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar, overload

import attrs
import numpy as np
import numpy.typing as npt
import toolz

from ._memory import keep_freed_memory
from ._validators import non_negative_int, positive_int
from .losses import Loss
from .model import CROSS_ENTROPY, value_and_grad_with_state
from .model import value_and_grad as model_value_and_grad
from .optim import Optimizer
from .optim import update as optim_update
from .optim.base import expect_optimizer
from .rules import Context, init_state

__all__ = [
    "Batch",
    "Step",
    "TrainState",
    "TrainingDiverged",
    "batches",
    "epochs",
    "fit",
    "fit_iter",
    "steps_per_epoch",
    "train_step",
]

P = TypeVar("P")
S = TypeVar("S")

Batch = tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]
"""One batch: inputs of shape (batch, ...) (features, or images) and labels."""

ValueAndGrad = Callable[[P, npt.NDArray[np.generic], npt.NDArray[np.generic]], tuple[float, P]]


def _check_step(state: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value < 0:  # one test for the state every step makes
        non_negative_int("TrainState.step", value)


@attrs.frozen
class TrainState(Generic[P, S]):
    """Everything training carries from one step to the next, as a pytree.

    ``loss`` is the loss of the batch that produced this state, measured before its update
    (NaN before the first step): the fold reports it without a second forward pass.
    ``model_state`` is the network's model state (:func:`~functional_nn.rules.init_state`;
    ``None`` for a network without BatchNorm), updated by every step.
    """

    params: P
    opt_state: S
    step: int = attrs.field(default=0, validator=_check_step)
    loss: float = math.nan
    model_state: object = None


class Step(Protocol[S]):
    """A training step for parameter trees of any type P: ``(TrainState[P, S], batch) ->
    TrainState[P, S]``. What :func:`train_step` returns when no argument fixes P."""

    def __call__(self, state: TrainState[P, S], batch: Batch, /) -> TrainState[P, S]: ...


class TrainingDiverged(FloatingPointError):
    """The loss became non-finite; ``state`` is the last state with a finite loss.

    Its tree and state types are those of the training that raised, which an ``except``
    clause cannot name: ``Any``, for the handler to annotate.
    """

    def __init__(self, state: TrainState[Any, Any], step: int, loss: float) -> None:
        super().__init__(f"training diverged at step {step}: loss is {loss}; "
                         "try a lower learning rate or gradient clipping")
        self.state = state
        self.step = step
        self.loss = loss


def _check_pair(x: npt.NDArray[np.generic], y: npt.NDArray[np.generic], batch_size: int) -> None:
    positive_int("batch_size", batch_size)
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, np.ndarray) or value.ndim == 0:
            raise TypeError(f"{name} must be an array of samples, got {type(value).__name__}"
                            + (" of 0 dimensions" if isinstance(value, np.ndarray) else ""))
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")


def steps_per_epoch(n: int, batch_size: int, *, drop_last: bool = False) -> int:
    """The number of batches in an epoch of ``n`` samples.

    >>> steps_per_epoch(10, 4), steps_per_epoch(10, 4, drop_last=True)
    (3, 2)
    """
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(x: npt.NDArray[np.generic], y: npt.NDArray[np.generic], *, batch_size: int,
            seed: int, epoch: int, drop_last: bool = False) -> Iterator[Batch]:
    """The batches of one epoch, shuffled from ``(seed, epoch)`` alone (no global RNG).

    The last short batch is kept unless ``drop_last``.

    >>> x, y = np.arange(5)[:, None], np.arange(5)
    >>> [b[1].tolist() for b in batches(x, y, batch_size=2, seed=0, epoch=0)]
    [[2, 4], [3, 0], [1]]
    """
    _check_pair(x, y, batch_size)
    order = np.random.default_rng((non_negative_int("seed", seed),
                                   non_negative_int("epoch", epoch))).permutation(len(x))
    stop = steps_per_epoch(len(x), batch_size, drop_last=drop_last) * batch_size
    for start in range(0, stop, batch_size):
        index = order[start:start + batch_size]
        yield x[index], y[index]


def epochs(x: npt.NDArray[np.generic], y: npt.NDArray[np.generic], *, batch_size: int, seed: int,
           count: int, start_step: int = 0, drop_last: bool = False) -> Iterator[Batch]:
    """``count`` epochs of batches as one stream, skipping the first ``start_step`` batches.

    Same as ``drop(start_step, concat(batches(..., epoch=e) for e in range(count)))``, without
    gathering the skipped batches: pass a resumed state's ``step`` to continue where it stopped.
    """
    _check_pair(x, y, batch_size)
    count = non_negative_int("count", count)
    start_step = non_negative_int("start_step", start_step)
    per_epoch = steps_per_epoch(len(x), batch_size, drop_last=drop_last)
    first, skip = divmod(start_step, per_epoch) if per_epoch else (count, 0)
    for epoch in range(first, count):
        stream = batches(x, y, batch_size=batch_size, seed=seed, epoch=epoch, drop_last=drop_last)
        yield from toolz.drop(skip, stream) if epoch == first else stream


def _shown(batch: object) -> str:
    if isinstance(batch, tuple | list):
        return f"a {type(batch).__name__} of {len(batch)}"
    return type(batch).__name__


StateValueAndGrad = Callable[[TrainState[P, S], npt.NDArray[np.generic],
                              npt.NDArray[np.generic]], tuple[float, P, object]]
Gradients = tuple[TrainState[P, S], float, P, object]


def _gradients(value_and_grad: StateValueAndGrad[P, S]) -> Callable[
        [TrainState[P, S], Batch], Gradients[P, S]]:
    """``(state, (x, y)) -> (state, loss, grads, model state)``; stops on a non-finite loss."""
    def gradients(state: TrainState[P, S], batch: Batch) -> Gradients[P, S]:
        if not isinstance(batch, tuple | list) or len(batch) != 2:  # an array would unpack
            raise TypeError(f"a batch is a pair (x, y), got {_shown(batch)}")
        x, y = batch
        if not isinstance(state, TrainState):
            raise TypeError(f"a step takes a TrainState, got {type(state).__name__}")
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
            value, grads, model_state = value_and_grad(state, x, y)
        if not math.isfinite(value):
            inputs = np.asarray(x)  # bad data, not divergence:
            if inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
                raise ValueError(f"the batch of step {state.step} holds NaN or infinity in its "
                                 "inputs: clean the data (a lower learning rate won't help)")
            raise TrainingDiverged(state, state.step, value)
        return state, value, grads, model_state
    return gradients


def _apply(optimizer: Optimizer[S]) -> Callable[[Gradients[P, S]], TrainState[P, S]]:
    """``(state, loss, grads, model state) -> next state``: one optimizer update."""
    def apply(quad: Gradients[P, S]) -> TrainState[P, S]:
        state, value, grads, model_state = quad
        params, opt_state = optim_update(optimizer, state.params, grads, state.opt_state)
        return TrainState(params, opt_state, state.step + 1, value, model_state)
    return apply


_TRAINING = Context(training=True, input_grad=False)


def _model(loss: Loss, seed: int | None) -> StateValueAndGrad[P, S]:
    """The model's ``value_and_grad`` with ``loss``, in training mode, with the key
    ``(seed, step)`` when a seed is given (so a resumed run draws the same), threading the
    model state when the state has one."""
    def value_and_grad(state: TrainState[P, S], x: npt.NDArray[np.generic],
                       y: npt.NDArray[np.generic]) -> tuple[float, P, object]:
        ctx = _TRAINING if seed is None else Context(True, (seed, state.step), False)
        if state.model_state is not None:
            return value_and_grad_with_state(state.params, x, y, state=state.model_state,
                                             loss=loss, ctx=ctx)
        if state.step == 0 and init_state(state.params) is not None:  # once, not every step
            raise ValueError("this network has model state (BatchNorm's running statistics) "
                             "but the TrainState has none: make it with "
                             "TrainState(..., model_state=init_state(params))")
        value, grads = model_value_and_grad(state.params, x, y, loss=loss, ctx=ctx)
        return value, grads, None
    return value_and_grad


def _of_params(value_and_grad: ValueAndGrad[P]) -> StateValueAndGrad[P, S]:
    def of_state(state: TrainState[P, S], x: npt.NDArray[np.generic],
                 y: npt.NDArray[np.generic]) -> tuple[float, P, object]:
        if state.model_state is not None:
            raise ValueError("train_step(value_and_grad=...) does not thread model state; "
                             "this TrainState has some")
        value, grads = value_and_grad(state.params, x, y)
        return value, grads, None
    return of_state


@overload
def train_step(optimizer: Optimizer[S], *, loss: Loss | None = None, seed: int | None = None,
               value_and_grad: None = None) -> Step[S]: ...
@overload
def train_step(optimizer: Optimizer[S], *, value_and_grad: ValueAndGrad[P],
               ) -> Callable[[TrainState[P, S], Batch], TrainState[P, S]]: ...
def train_step(optimizer: Optimizer[S], *, loss: Loss | None = None,
               seed: int | None = None, value_and_grad: ValueAndGrad[P] | None = None,
               ) -> Callable[[TrainState[P, S], Batch], TrainState[P, S]]:
    """A pure training step: gradients of the batch's loss, then one optimizer update.

    Same as ``toolz.compose(apply_update, value_and_grad_of_batch)``: the model's
    :func:`~functional_nn.value_and_grad` with ``loss`` (softmax cross-entropy by default), in
    training mode, with the random key ``(seed, state.step)`` for layers that draw (Dropout:
    none may be used without a ``seed``), and with the state's ``model_state`` threaded
    through :func:`~functional_nn.model.value_and_grad_with_state` when it has one.
    ``value_and_grad`` replaces the model's (a sharded one, say) and then ``loss`` and
    ``seed`` are its business (it threads no model state). Train on a
    :class:`~functional_nn.flat.Flat` of the parameters for speed: every transform then runs
    over one buffer.
    """
    expect_optimizer(optimizer, "train_step's optimizer")
    keep_freed_memory()
    if value_and_grad is not None:
        if loss is not None or seed is not None:
            raise TypeError("train_step takes value_and_grad= or loss=/seed=, not both")
        return toolz.compose(_apply(optimizer), _gradients(_of_params(value_and_grad)))
    return toolz.compose(_apply(optimizer), _gradients(_model(loss or CROSS_ENTROPY, seed)))


def fit(step: Callable[[TrainState[P, S], Batch], TrainState[P, S]], state: TrainState[P, S],
        batches: Iterable[Batch]) -> TrainState[P, S]:
    """Fold ``step`` over ``batches`` starting from ``state``: the state after the last batch.

    Same as ``toolz.reduce(step, batches, state)``.
    """
    return toolz.reduce(step, batches, state)


def fit_iter(step: Callable[[TrainState[P, S], Batch], TrainState[P, S]],
             state: TrainState[P, S], batches: Iterable[Batch]) -> Iterator[TrainState[P, S]]:
    """The lazy stream of states of :func:`fit`, starting with ``state`` itself.

    Same as ``toolz.accumulate(step, batches, state)``; its last element equals ``fit``.
    """
    return toolz.accumulate(step, batches, state)
