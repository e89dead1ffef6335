"""A small training job that can stop and resume: used by test_resume in a fresh process.

``python -m tests.resume_job PATH TOTAL`` loads the state at PATH, trains it up to TOTAL steps
and saves it back.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np

import functional_nn as fnn
from functional_nn import checkpoint, optim
from functional_nn.train import Batch, epochs


def optimizer() -> optim.Optimizer[Any]:
    """Clipping, a warm-up cosine schedule and AdamW: every kind of state a resume must keep."""
    schedule = optim.warmup_cosine_decay(0.0, 1e-2, 5, 40)
    return optim.chain(optim.clip_by_global_norm(1.0), optim.adamw(schedule, weight_decay=1e-3))


def stream(start_step: int, total: int) -> itertools.islice[Batch]:
    """Batches ``start_step`` to ``total`` of a 4-batches-an-epoch stream."""
    x = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    batches = epochs(x, x.argmax(axis=1), batch_size=16, seed=7, count=99, start_step=start_step)
    return itertools.islice(batches, total - start_step)


def resume(path: str, total: int) -> None:
    """Load the state at ``path``, continue it to ``total`` steps and save it back."""
    state: fnn.TrainState[Any, Any] = checkpoint.load(path)  # type: ignore[assignment]
    state = fnn.fit(fnn.train_step(optimizer()), state, stream(state.step, total))
    checkpoint.save(path, state)


if __name__ == "__main__":
    resume(sys.argv[1], int(sys.argv[2]))
