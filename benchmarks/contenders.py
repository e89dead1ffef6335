"""The contenders of the training benchmarks, each a stream of training steps.

``bench_train.py`` times each one's epoch in a fresh process; ``bench_interleaved.py`` runs
them side by side in one. Every contender trains the same network from the same initial
parameters (``fnn.mlp(sizes, seed=0)``) on the same batches in the same order, with Adam 1e-3
in float32:

- ``functional_nn`` and its variants (:data:`VARIANTS`): ``fnn.fit(fnn.train_step(opt), ...)``
  on a ``Flat``, with plain Adam, compositions of transforms, a user-registered activation, or
  on the tree itself (``fnn_tree``);
- ``numpy_loop``: a plain imperative numpy loop (in-place Adam, hand-written backprop);
- ``numpy_fused`` and ``numpy_in_place``: the fold's own numpy operations without the library
  (``numpy_fused.py``), into fresh arrays or overwriting the old ones;
- ``torch``: ``torch.nn`` and ``torch.optim.Adam`` (optional: when torch is importable).
"""

from __future__ import annotations

import importlib.util
import itertools
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
from numpy_fused import fused

import functional_nn as fnn
from functional_nn import optim
from functional_nn._memory import keep_freed_memory
from functional_nn.data import flatten_images, load_dataset

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
NETS: dict[str, tuple[list[int], int]] = {
    "16-16": ([784, 16, 16, 10], 32),
    "256-128": ([784, 256, 128, 10], 128),
    "800": ([784, 800, 10], 128),
}
LR, SEED, EPOCH = 1e-3, 0, 0
B1, B2, EPS = 0.9, 0.999, 1e-8


# --- data and batch order ------------------------------------------------------------------


def load_mnist() -> tuple[F32, I64, F32, I64]:
    data = load_dataset("mnist", download=False)
    return (flatten_images(data.train_x), data.train_y,
            flatten_images(data.test_x), data.test_y)


def batch_order(n: int) -> I64:
    """The permutation ``fnn.batches(..., seed=SEED, epoch=EPOCH)`` uses."""
    return np.random.default_rng((SEED, EPOCH)).permutation(n)


def steps_for(n: int, batch: int, max_steps: int | None, fraction: float) -> int:
    steps = -(-int(n * fraction) // batch)
    return min(steps, max_steps) if max_steps else steps


def init_params(sizes: list[int]) -> list[tuple[F32, F32]]:
    """The same initial parameters for every contender: ``fnn.mlp(sizes, seed=SEED)``."""
    leaves = fnn.array_leaves(fnn.mlp(sizes, seed=SEED))
    return [(np.array(leaves[i], np.float32), np.array(leaves[i + 1], np.float32))
            for i in range(0, len(leaves), 2)]


# --- contender 1: functional_nn, plain and composed ------------------------------------------


@attrs.frozen
class UserReLU:
    """A user-registered activation: a copy of ReLU, to show that new kinds are not slower."""


def _user_relu_forward(layer: UserReLU, x: F32, ctx: fnn.Context) -> tuple[F32, F32]:
    y = np.maximum(x, 0)
    return y, y


def _user_relu_vjp(layer: UserReLU, y: F32, g: F32, out: UserReLU,
                   ctx: fnn.Context) -> F32 | None:
    return np.multiply(g, y > 0, out=g) if ctx.input_grad else None


fnn.register(UserReLU, _user_relu_forward, _user_relu_vjp)


def _no_bias(path: str, leaf: object) -> bool:
    return not path.endswith(".b")


def _user_net(sizes: list[int]) -> fnn.Sequential:
    layers = fnn.mlp(sizes, seed=SEED).layers
    return fnn.Sequential(UserReLU() if isinstance(k, fnn.ReLU) else k for k in layers)


# variant -> (optimizer, network, whether to train on a Flat)
VARIANTS: dict[str, Callable[[list[int]], tuple[optim.Optimizer[Any], object]]] = {
    "functional_nn": lambda s: (optim.adam(LR), fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_tree": lambda s: (optim.adam(LR), fnn.mlp(s, seed=SEED)),
    "fnn_clip": lambda s: (optim.chain(optim.clip_by_global_norm(1.0), optim.adam(LR)),
                           fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_adamw_mask": lambda s: (optim.adamw(LR, weight_decay=1e-2, mask=_no_bias),
                                 fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_accumulate": lambda s: (optim.accumulate(optim.adam(LR), 4),
                                 fnn.flatten(fnn.mlp(s, seed=SEED))),
    "fnn_user_layer": lambda s: (optim.adam(LR), fnn.flatten(_user_net(s))),
}


Steps = Callable[[list[int], int, F32, I64, int], Iterator[object]]
"""``(sizes, batch, x, y, steps) ->`` the model before the first step, then after each step."""


def fnn_steps(variant: str) -> Steps:
    """``fnn.fit_iter`` of ``variant``'s training step: a stream of the parameters."""
    def steps_of(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> Iterator[object]:
        opt, params = VARIANTS[variant](sizes)
        step = fnn.train_step(opt)
        stream = itertools.islice(
            fnn.batches(x, y, batch_size=batch, seed=SEED, epoch=EPOCH), steps)
        return (state.params for state in
                fnn.fit_iter(step, fnn.TrainState(params, opt.init(params)), stream))
    return steps_of


def fnn_runner(variant: str) -> Callable[[list[int], int, F32, I64, int], tuple[float, object]]:
    """The seconds of ``fnn.fit`` over ``steps`` batches with ``variant``, and the parameters."""
    def run_fnn(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> tuple[float, object]:
        opt, params = VARIANTS[variant](sizes)
        state = fnn.TrainState(params, opt.init(params))
        step = fnn.train_step(opt)
        stream = itertools.islice(
            fnn.batches(x, y, batch_size=batch, seed=SEED, epoch=EPOCH), steps)
        t0 = time.perf_counter()
        state = fnn.fit(step, state, stream)
        seconds = time.perf_counter() - t0
        return seconds, state.params
    return run_fnn


def timed(steps_of: Steps) -> Callable[[list[int], int, F32, I64, int], tuple[float, object]]:
    """A runner: the seconds ``steps_of`` takes for its steps (set-up excluded), and the
    final model."""
    def run(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> tuple[float, object]:
        stream = steps_of(sizes, batch, x, y, steps)
        model = next(stream)  # set up, before the first step
        t0 = time.perf_counter()
        for model in stream:  # noqa: B007 (the last one is the result)
            pass
        return time.perf_counter() - t0, model
    return run


def predict_fnn(params: object, x: F32) -> npt.NDArray[np.intp]:
    out: npt.NDArray[np.intp] = np.asarray(fnn.forward(params, x)).argmax(axis=1)
    return out


# --- contender 2: a plain imperative numpy loop ----------------------------------------------


def numpy_steps(sizes: list[int], batch: int, x: F32, y: I64,
                steps: int) -> Iterator[object]:
    """A good honest imperative loop: float32, in-place Adam, hand-written backprop."""
    layers = init_params(sizes)
    params = [p for pair in layers for p in pair]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    scratch = [np.empty_like(p) for p in params]
    order = batch_order(len(x))
    f = np.float32
    yield layers
    for t in range(1, steps + 1):
        index = order[(t - 1) * batch:t * batch]
        xb, yb = x[index], y[index]
        n = len(index)
        acts = [xb]
        h = xb
        for i, (w, b) in enumerate(layers):
            z = h @ w
            z += b
            if i < len(layers) - 1:
                np.maximum(z, 0, out=z)
            acts.append(z)
            h = z
        z = acts.pop()  # logits -> softmax cross-entropy gradient, in place
        z -= z.max(axis=1, keepdims=True)
        rows = np.arange(n)
        np.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        _loss = float(np.log(s).sum() - np.log(z[rows, yb]).sum()) / n
        z /= s
        z[rows, yb] -= 1
        z *= f(1.0 / n)
        g = z
        grads: list[F32] = [g] * len(params)
        for i in range(len(layers) - 1, -1, -1):
            w = layers[i][0]
            grads[2 * i] = acts[i].T @ g
            grads[2 * i + 1] = g.sum(axis=0)
            if i > 0:
                g = g @ w.T
                g *= acts[i] > 0
        bc1, bc2 = 1 - B1**t, 1 - B2**t
        step_size, sq = f(LR / bc1), f(np.sqrt(bc2))
        for p, gr, m, v, tmp in zip(params, grads, ms, vs, scratch, strict=True):
            m *= f(B1)
            np.multiply(gr, f(1 - B1), out=tmp)
            m += tmp
            v *= f(B2)
            np.multiply(gr, gr, out=tmp)
            tmp *= f(1 - B2)
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= sq
            tmp += f(EPS)
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp
        yield layers


def fused_steps(in_place: bool) -> Steps:
    """The fold's own operations without the library (see ``numpy_fused.py``), with the
    allocator set up as ``train_step`` sets it (freed memory kept in the process); with
    ``in_place``, the parameters and moments overwritten: what fresh arrays cost a step."""
    def steps_of(sizes: list[int], batch: int, x: F32, y: I64, steps: int) -> Iterator[object]:
        keep_freed_memory()
        return fused(sizes, batch, x, y, steps, init_params(sizes), batch_order(len(x)),
                     LR, B1, B2, EPS, in_place=in_place)
    return steps_of


def predict_numpy(layers: Any, x: F32) -> npt.NDArray[np.intp]:
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    out: npt.NDArray[np.intp] = np.asarray(h).argmax(axis=1)
    return out


# --- contender 3: PyTorch (optional) -----------------------------------------------------------


def torch_available() -> bool:
    """Whether torch is installed, without importing it (its OpenMP pool would spin in this
    process and slow numpy's OpenBLAS threads down: every contender runs in its own process)."""
    return importlib.util.find_spec("torch") is not None


def torch_steps(sizes: list[int], batch: int, x: F32, y: I64,
                steps: int) -> Iterator[object]:
    """``torch.nn`` and ``torch.optim.Adam`` from the same parameters, in the same order."""
    import torch
    from torch import nn

    modules: list[Any] = []
    for i, (w, b) in enumerate(init_params(sizes)):
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            linear.bias.copy_(torch.from_numpy(b))
        modules.append(linear)
        if i < len(sizes) - 2:
            modules.append(nn.ReLU())
    model = nn.Sequential(*modules)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    with warnings.catch_warnings():  # read-only arrays: torch only reads them here
        warnings.simplefilter("ignore", UserWarning)
        xt, yt = torch.from_numpy(np.asarray(x)), torch.from_numpy(np.asarray(y))
    order = torch.from_numpy(batch_order(len(x)))
    loss_fn = nn.CrossEntropyLoss()
    yield model
    for t in range(steps):
        index = order[t * batch:(t + 1) * batch]
        xb, yb = xt[index], yt[index]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        yield model


def predict_torch(model: Any, x: F32) -> npt.NDArray[np.intp]:
    import torch

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(model(torch.from_numpy(np.asarray(x))).argmax(dim=1).numpy())


Runner = Callable[[list[int], int, F32, I64, int], tuple[float, object]]
STEPS: dict[str, tuple[Steps, Callable[[Any, F32], npt.NDArray[np.intp]]]] = {
    **{name: (fnn_steps(name), predict_fnn) for name in VARIANTS},
    "numpy_loop": (numpy_steps, predict_numpy),
    "numpy_fused": (fused_steps(in_place=False), predict_numpy),
    "numpy_in_place": (fused_steps(in_place=True), predict_numpy),
    "torch": (torch_steps, predict_torch),
}
"""The contenders as streams of steps (``bench_interleaved.py`` runs them side by side)."""
CONTENDERS: dict[str, tuple[Runner, Callable[[Any, F32], npt.NDArray[np.intp]]]] = {
    **{name: (fnn_runner(name), predict_fnn) for name in VARIANTS},
    **{name: (timed(steps_of), predict) for name, (steps_of, predict) in STEPS.items()
       if name not in VARIANTS},
}
