"""Waiting on ``train_step`` returning a step generic in the tree type (issue 13).

pyright does not carry the free tree type of ``train_step(opt)``'s result into a variable (it
becomes Unknown there); mypy makes the result a generic function. Passing the step straight
to ``fit`` works in both (see ``../check_train.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_type

import functional_nn as fnn
from functional_nn import optim
from functional_nn.optim import AdamState
from functional_nn.train import Batch


def a_step_bound_to_a_name(net: fnn.Sequential, batches: Iterator[Batch]) -> None:
    opt = optim.adam(1e-3)
    step = fnn.train_step(opt)
    state = fnn.fit(step, fnn.TrainState(net, opt.init(net)), batches)
    assert_type(state, fnn.TrainState[fnn.Sequential, AdamState])
