"""Static types of training: TrainState, the fold over a step, checkpoints of a known tree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, assert_type

import functional_nn as fnn
from functional_nn import checkpoint, optim
from functional_nn.optim import AdamState, SgdState
from functional_nn.train import Batch

State = fnn.TrainState[fnn.Sequential, AdamState]


def the_fold_keeps_the_state_type(net: fnn.Sequential, batches: Iterator[Batch]) -> None:
    opt = optim.adam(1e-3)
    state = fnn.TrainState(net, opt.init(net))
    assert_type(state, State)
    assert_type(fnn.fit(fnn.train_step(opt), state, batches), State)
    assert_type(fnn.fit_iter(fnn.train_step(opt), state, batches), Iterator[State])
    assert_type(state.params, fnn.Sequential)
    assert_type(state.loss, float)
    # an SGD step folded over an Adam state
    fnn.fit(fnn.train_step(optim.sgd(0.1)), state, batches)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def checkpoints_of_a_known_tree(state: State, net: fnn.Sequential) -> None:
    checkpoint.save("run.npz", state)
    assert_type(checkpoint.load("run.npz", like=state), State)
    assert_type(checkpoint.load("model.npz", like=net), fnn.Sequential)
    _sgd: fnn.TrainState[fnn.Sequential, SgdState]
    _sgd = checkpoint.load("run.npz", like=state)  # type: ignore[arg-type]  # pyright: ignore[reportAssignmentType]


def divergence(net: fnn.Sequential, batches: Iterator[Batch]) -> None:
    opt = optim.adam(1e-3)
    try:
        fnn.fit(fnn.train_step(opt), fnn.TrainState(net, opt.init(net)), batches)
    except fnn.TrainingDiverged as error:
        assert_type(error.state, fnn.TrainState[Any, Any])
        last: State = error.state
        assert_type(last.params, fnn.Sequential)
