"""Static types of optimizers: the state type follows the optimizer, the tree type each call."""

from __future__ import annotations

from typing import assert_type

import functional_nn as fnn
from functional_nn import Array, optim
from functional_nn.optim import (
    AccumulateState,
    AdamState,
    EmptyState,
    MaskedState,
    Optimizer,
    SgdState,
)


def state_types(net: fnn.Sequential, grads: fnn.Sequential) -> None:
    opt = optim.adam(1e-3)
    assert_type(opt, Optimizer[AdamState])
    state = opt.init(net)
    assert_type(state, AdamState)
    updates, state = opt.update(grads, state, net)
    assert_type(updates, fnn.Sequential)
    new, state = optim.update(opt, net, grads, state)
    assert_type(new, fnn.Sequential)
    assert_type(state, AdamState)
    assert_type(optim.apply_updates(net, updates), fnn.Sequential)


def chains(net: fnn.Sequential) -> None:
    combo = optim.chain(optim.clip_by_global_norm(1.0), optim.accumulate(optim.adamw(0.1), 2),
                        optim.masked(optim.sgd(0.1), lambda path, leaf: leaf.ndim == 1))
    assert_type(combo, Optimizer[tuple[EmptyState, AccumulateState[optim.AdamWState],
                                       MaskedState[SgdState]]])
    assert_type(combo.init(net)[1], AccumulateState[optim.AdamWState])
    assert_type(optim.chain(), Optimizer[tuple[()]])
    assert_type(optim.identity(), Optimizer[EmptyState])


def the_tree_type_is_each_calls_own(d: dict[str, Array]) -> None:
    opt = optim.sgd(0.1)
    new, _ = optim.update(opt, d, d, opt.init(d))
    assert_type(new, dict[str, Array])


def rejected(net: fnn.Sequential, grads: fnn.Sequential, d: dict[str, Array]) -> None:
    adam_state = optim.adam(1e-3).init(net)
    sgd = optim.sgd(0.1)
    # an SGD step folded over an Adam state
    optim.update(sgd, net, grads, adam_state)  # type: ignore[misc]  # pyright: ignore[reportArgumentType]
    sgd.update(grads, adam_state, net)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    # gradients of another tree type for parameters that stay a Sequential
    _new: fnn.Sequential = optim.update(sgd, net, d, sgd.init(net))[0]  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    # a state of the wrong optimizer, and a learning rate that is no number or schedule
    _state: SgdState = optim.adam(0.1).init(net)  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    optim.adam("fast")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def masks(net: fnn.Sequential) -> None:
    sgd = optim.sgd(0.1)
    optim.masked(sgd, lambda path, leaf: not path.endswith(".b"))
    optim.masked(sgd, fnn.tree_map(lambda w: w.ndim == 2, net))
    optim.masked(sgd, {"w": True, "b": (False, None)})
    # mypy only: outside mypy, attrs makes AttrsInstance an empty protocol that anything meets
    optim.masked(sgd, "layers")  # type: ignore[arg-type]
    optim.masked(sgd, 1.0)  # type: ignore[arg-type]
