"""A step bound to a name keeps its tree type: ``train_step`` returns a generic ``Step``.

(pyright keeps no free type variable of a returned callable in a variable; mypy does.)
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
