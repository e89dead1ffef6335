"""A custom training pipeline composed from the pure pieces with toolz.

- a learning-rate schedule: linear warm-up, then cosine decay;
- gradient clipping by global norm;
- weight decay on the weights only (a mask that is a function of the path spares the biases);
- a custom metric stream: the lazy stream of states from ``fit_iter`` piped through toolz into
  a moving average of the loss and a periodic test-accuracy probe. No callbacks anywhere.

Run: ``python examples/compose_pipeline.py`` (add ``--limit 5000 --epochs 1`` for a quick look).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import numpy as np
import toolz

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import flatten_images, load_dataset
from functional_nn.train import epochs, steps_per_epoch

State = fnn.TrainState[fnn.Sequential, Any]


def weights_only(path: str, leaf: fnn.Array) -> bool:
    """The decay mask: matrices decay, bias vectors don't (``layers[0].b`` is spared)."""
    return not path.endswith(".b")


def make_optimizer(peak_lr: float, warmup: int, total: int) -> optim.Optimizer[Any]:
    """Clip, decay the weights, then Adam with a warm-up + cosine schedule."""
    schedule = optim.warmup_cosine_decay(0.0, peak_lr, warmup, total)
    return optim.chain(
        optim.clip_by_global_norm(1.0),
        optim.masked(optim.add_decayed_weights(1e-4), weights_only),
        optim.adam(schedule),
    )


@attrs.frozen
class Record:
    """One line of the metric stream."""

    step: int
    mean_loss: float
    learning_rate: float
    state: State


def summarize(window: tuple[State, ...]) -> Record:
    """A record of the newest state in a window, with the loss averaged over the window."""
    last = window[-1]
    mean_loss = float(np.mean([s.loss for s in window]))
    return Record(last.step, mean_loss, optim.current_learning_rate(last.opt_state), last)


def after_first(states: Iterable[State]) -> Iterator[State]:
    """Skip the initial state: it has no loss yet."""
    return toolz.drop(1, states)


def windows_of(size: int) -> Callable[[Iterable[State]], Iterator[tuple[State, ...]]]:
    """The last ``size`` states at each step."""
    return lambda states: toolz.sliding_window(size, states)


def records(windows: Iterable[tuple[State, ...]]) -> Iterator[Record]:
    """One record per window."""
    return map(summarize, windows)


def metric_stream(states: Iterable[State], window: int) -> Iterator[Record]:
    """The fold's states as records.

    Same as ``map(summarize, sliding_window(window, drop(1, states)))``, built with ``pipe``.
    """
    return toolz.pipe(states, after_first, windows_of(window), records)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--every", type=int, default=200, help="report every N steps")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    data = load_dataset("mnist", data_dir=args.data_dir)
    x, y = flatten_images(data.train_x)[: args.limit], data.train_y[: args.limit]
    probe_x, probe_y = flatten_images(data.test_x)[:2000], data.test_y[:2000]

    batch_size = 64
    total = args.epochs * steps_per_epoch(len(x), batch_size)
    opt = make_optimizer(3e-3, warmup=total // 10, total=total)
    params = fnn.mlp([784, 64, 32, 10], seed=0)
    start: State = fnn.TrainState(params=params, opt_state=opt.init(params), step=0)
    states = fnn.fit_iter(fnn.train_step(opt), start,
                          epochs(x, y, batch_size=batch_size, seed=0, count=args.epochs))

    final = start
    for record in metric_stream(states, window=min(50, total)):
        final = record.state
        if record.step % args.every == 0 or record.step == total:
            probe = fnn.accuracy(record.state.params, probe_x, probe_y)
            print(f"step {record.step:5d}  loss (mean of 50) {record.mean_loss:.4f}  "
                  f"lr {record.learning_rate:.2e}  probe accuracy {probe:.2%}")
    accuracy = fnn.accuracy(final.params, flatten_images(data.test_x), data.test_y)
    print(f"test accuracy {accuracy:.2%} after {final.step} steps")
    return accuracy


if __name__ == "__main__":
    main()
