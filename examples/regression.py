"""Regression: a tanh MLP fitted to a noisy 1-D function with mean squared error.

The same fold as classification, another loss: ``train_step(adam, loss=mean_squared_error())``.
A loss is any value with a pure ``value_and_grad(outputs, targets)``; the example defines one
more (mean absolute error, a few lines) to show the protocol.

Run: ``python examples/regression.py`` (``--epochs 200`` for a closer fit).
"""

from __future__ import annotations

import argparse

import attrs
import numpy as np
import numpy.typing as npt

import functional_nn as fnn
from functional_nn import losses, optim


@attrs.frozen
class MeanAbsoluteError:
    """``L = mean|y − t|``, ``dL/dy = sign(y − t) / N``: a loss written by a user."""

    def value_and_grad(self, outputs: fnn.Array,
                       targets: npt.ArrayLike) -> tuple[float, fnn.Array]:
        r = outputs - np.asarray(targets, outputs.dtype)
        value = float(np.abs(r).sum(dtype=np.float64)) / r.size
        return value, np.sign(r) / r.dtype.type(r.size)


def data(n: int, seed: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """``y = sin(3x) + x/2 + noise`` on [-1.5, 1.5], as (n, 1) float32 columns."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.5, 1.5, (n, 1)).astype(np.float32)
    y = (np.sin(3 * x) + 0.5 * x + rng.normal(0, 0.1, x.shape)).astype(np.float32)
    return x, y


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    x, y = data(2000, seed=0)
    test_x, test_y = data(500, seed=1)
    params = fnn.flatten(fnn.mlp([1, 32, 32, 1], seed=0, activation="tanh"))
    opt = optim.adam(optim.cosine_decay(0.01, args.epochs * 32))
    contenders: list[tuple[str, losses.Loss]] = [
        ("mean squared error", losses.mean_squared_error()),
        ("user-defined mean absolute error", MeanAbsoluteError())]
    for name, loss in contenders:
        step = fnn.train_step(opt, loss=loss)
        state = fnn.fit(step, fnn.TrainState(params, opt.init(params)),
                        fnn.epochs(x, y, batch_size=64, seed=0, count=args.epochs))
        mse = fnn.metrics.mean_squared_error(state.params, test_x, test_y)
        mae = fnn.metrics.mean_absolute_error(state.params, test_x, test_y)
        print(f"trained on {name}: test MSE {mse:.4f}, test MAE {mae:.4f} "
              f"(noise floor: MSE 0.0100)")


if __name__ == "__main__":
    main()
