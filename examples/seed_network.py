"""The project's origin: a 784-16-16-10 network trained on MNIST, end to end, from pure pieces.

Each piece of the origin's math is pointed out where it happens:

- weighted sum plus bias, ``z = x·W + b``: ``functional_nn/rules/dense.py``, ``_dense_forward``;
- ReLU, ``a = max(z, 0)``: ``_relu_forward`` beside it, with its VJP ``g·[z > 0]``;
- softmax and categorical cross-entropy, ``L = -mean log softmax(z)[y]``:
  ``functional_nn/losses.py``, ``softmax_cross_entropy`` (gradient ``(p - onehot(y)) / n``);
- backpropagation: the VJP rules run in reverse, ``_sequential_vjp``;
- gradient descent, ``θ ← θ - η·∇L``: the ``sgd`` optimizer, applied by ``update``.

Run: ``python examples/seed_network.py`` (add ``--epochs 1 --limit 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import functional_nn as fnn
from functional_nn import optim
from functional_nn.data import flatten_images, load_dataset


def main(argv: list[str] | None = None) -> float:
    """Build, inspect and train the origin network; return its test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--lr", type=float, default=0.1, help="gradient-descent step size")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)

    # The network is its parameters: three Dense layers with ReLU between them.
    params = fnn.mlp([784, 16, 16, 10], seed=0)
    print(f"784-16-16-10 network: {fnn.param_count(params):,} parameters")
    print(fnn.tree_structure(params))

    data = load_dataset("mnist", data_dir=args.data_dir)
    x, y = flatten_images(data.train_x)[: args.limit], data.train_y[: args.limit]
    test_x, test_y = flatten_images(data.test_x), data.test_y

    # One forward pass and one gradient, by hand, on the first 32 images.
    logits = fnn.forward(params, x[:32])  # z3 = relu(relu(x·W1 + b1)·W2 + b2)·W3 + b3
    value, grads = fnn.value_and_grad(params, x[:32], y[:32])  # cross-entropy and backprop
    print(f"logits {logits.shape}, initial loss {value:.4f} (ln 10 = {np.log(10):.4f})")
    print("gradient paths:", ", ".join(fnn.tree_paths(grads)))

    # Plain gradient descent, folded over mini-batches, one epoch after another.
    optimizer = optim.sgd(args.lr)
    step = fnn.train_step(optimizer)
    state = fnn.TrainState(params=params, opt_state=optimizer.init(params), step=0)
    for epoch in range(args.epochs):
        start = time.perf_counter()
        state = fnn.fit(step, state, fnn.batches(x, y, batch_size=32, seed=0, epoch=epoch))
        acc = fnn.accuracy(state.params, test_x, test_y)
        print(f"epoch {epoch + 1}: last batch loss {state.loss:.4f}, test accuracy {acc:.2%}, "
              f"{time.perf_counter() - start:.1f} s")
    return fnn.accuracy(state.params, test_x, test_y)


if __name__ == "__main__":
    main()
