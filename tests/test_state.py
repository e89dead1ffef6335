"""Model state threaded through the fold: BatchNorm's running statistics are updated by every
training step, used at inference, saved in checkpoints, and a run resumed with a seed is
bit-identical to the uninterrupted one (Dropout's masks included)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

import functional_nn as fnn
import functional_nn.metrics
from functional_nn import checkpoint, optim
from functional_nn.rules import Context


def small_net(seed: int = 0) -> fnn.Sequential:
    return fnn.convnet((8, 8, 1), 3, seed=seed, filters=(4,), batch_norm=True, hidden=(8,),
                       dropout=0.25)


def data(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, n)
    x = rng.random((n, 8, 8, 1), dtype=np.float32) + y[:, None, None, None].astype(np.float32)
    return x, y


def start(params: Any, opt: optim.Optimizer[Any]) -> fnn.TrainState[Any, Any]:
    return fnn.TrainState(params, opt.init(params), model_state=fnn.init_state(params))


def test_init_state_is_none_without_stateful_layers() -> None:
    assert fnn.init_state(fnn.mlp([3, 2], seed=0)) is None
    assert fnn.init_state(fnn.convnet(seed=0)) is None
    state = fnn.init_state(small_net())
    assert type(state) is tuple
    assert len(state) == len(small_net().layers)
    assert isinstance(state[1], fnn.BatchNormState)
    assert all(s is None for i, s in enumerate(state) if i != 1)
    assert fnn.tree_structure(fnn.init_state(fnn.flatten(small_net()))) == \
        fnn.tree_structure(state)


def test_training_updates_the_running_statistics_and_inference_uses_them() -> None:
    params, (x, y) = fnn.flatten(small_net()), data()
    opt = optim.adam(1e-2)
    step = fnn.train_step(opt, seed=3)
    first = start(params, opt)
    states = list(fnn.fit_iter(step, first, fnn.batches(x, y, batch_size=8, seed=0, epoch=0)))
    bn: list[Any] = [cast("Any", s.model_state)[1] for s in states]
    assert bn[0].mean.tolist() == [0.0] * 4
    assert bn[0].var.tolist() == [1.0] * 4
    # step 1: running = 0.9 · initial + 0.1 · the first batch's statistics (of layer 0's output)
    xb = next(fnn.batches(x, y, batch_size=8, seed=0, epoch=0))[0]
    conv = fnn.forward(fnn.Sequential(params.tree.layers[:1]), xb)
    m = conv.size // 4
    np.testing.assert_allclose(bn[1].mean, 0.1 * conv.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn[1].var, 0.9 + 0.1 * conv.var(axis=(0, 1, 2)) * m / (m - 1),
                               rtol=1e-5)
    assert all(b.mean.dtype == np.float32 for b in bn)
    assert not np.array_equal(bn[2].mean, bn[1].mean)
    last = states[-1]
    with pytest.raises(ValueError, match=r"layers\[1\] \(BatchNorm\).*running statistics"):
        fnn.forward(last.params, x)
    logits = fnn.forward(last.params, x, state=last.model_state)
    assert logits.dtype == np.float32
    # inference with the state is deterministic and differs from batch statistics
    assert fnn.forward(last.params, x, state=last.model_state).tobytes() == logits.tobytes()
    train_mode = fnn.forward(last.params, x, ctx=Context(True, (0,), state=last.model_state))
    assert not np.allclose(train_mode, logits)
    acc = fnn.accuracy(last.params, x, y, state=last.model_state)
    assert fnn.metrics.evaluate(last.params, x, y, state=last.model_state).accuracy == acc
    assert fnn.metrics.predict(last.params, x, batch_size=5, state=last.model_state).tolist() \
        == logits.argmax(axis=1).tolist()


def test_value_and_grad_with_state_returns_the_next_state_and_leaves_inputs_alone() -> None:
    params, (x, y) = small_net(), data(6)
    state = fnn.init_state(params)
    before = [a.copy() for a in fnn.array_leaves(state)]
    ctx = Context(True, (0, 0), False)
    value, grads, new = fnn.value_and_grad_with_state(params, x, y, state=state, ctx=ctx)
    # the same loss and gradient as the stateless value_and_grad
    plain_value, plain = fnn.value_and_grad(params, x, y, ctx=ctx)
    assert value == plain_value
    assert all(a.tobytes() == b.tobytes() for a, b in zip(
        fnn.array_leaves(grads), fnn.array_leaves(plain), strict=True))
    assert fnn.tree_structure(new) == fnn.tree_structure(state)
    assert all(np.array_equal(a, b) for a, b in zip(before, fnn.array_leaves(state),
                                                     strict=True))
    assert all(not a.flags.writeable for a in fnn.array_leaves(new))
    with pytest.raises(ValueError, match="no running statistics to update"):
        fnn.value_and_grad_with_state(params, x, y, state=None, ctx=ctx)
    inference: Any = fnn.value_and_grad_with_state(params, x, y, state=state, ctx=Context())
    assert inference[2][1] is state[1]  # at inference the state is handed back as it was


def test_a_stateful_network_without_state_fails_on_the_first_step() -> None:
    params, (x, y) = small_net(), data(6)
    opt = optim.sgd(0.1)
    step = fnn.train_step(opt, seed=0)
    with pytest.raises(ValueError, match=r"model_state=init_state\(params\)"):
        step(fnn.TrainState(params, opt.init(params)), (x, y))
    with pytest.raises(ValueError, match="does not fit"):
        fnn.forward(params, x, state=(None,))


def test_dropout_needs_a_seed_in_training() -> None:
    net = fnn.convnet((6, 6, 1), 2, seed=0, filters=(2,))
    opt = optim.sgd(0.1)
    x, y = np.ones((2, 6, 6, 1), np.float32), np.array([0, 1])
    with pytest.raises(ValueError, match=r"layers\[4\] \(Dropout\).*pass seed="):
        fnn.train_step(opt)(fnn.TrainState(net, opt.init(net)), (x, y))


def test_resume_with_a_seed_is_bit_identical(tmp_path: Path) -> None:
    params, (x, y) = small_net(), data()  # a tree, not a Flat: checkpoints hold trees
    opt = optim.adam(1e-2)
    step = fnn.train_step(opt, seed=7)

    def stream(start_step: int) -> Any:
        return fnn.epochs(x, y, batch_size=8, seed=0, count=2, start_step=start_step)

    whole = fnn.fit(step, start(params, opt), stream(0))
    half = fnn.fit(step, start(params, opt), itertools.islice(stream(0), 4))
    path = tmp_path / "state.npz"
    checkpoint.save(path, half)
    resumed = checkpoint.load(path)
    assert isinstance(resumed, fnn.TrainState)
    assert resumed.step == 4
    resumed = fnn.fit(step, resumed, stream(resumed.step))
    assert resumed.step == whole.step == 6
    assert fnn.tree_structure(whole) == fnn.tree_structure(resumed)
    for a, b in zip(fnn.tree_leaves(whole), fnn.tree_leaves(resumed), strict=True):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes()


def test_a_train_state_without_model_state_keeps_its_checkpoint_record(tmp_path: Path) -> None:
    params = fnn.mlp([3, 2], seed=0)
    opt = optim.sgd(0.1)
    state = fnn.TrainState(params, opt.init(params), 2, 0.5)
    path = tmp_path / "old.npz"
    checkpoint.save(path, state)
    # the record is what it was before TrainState had model_state, so old files still load
    assert "model_state" not in checkpoint.read_info(path).structure
    loaded = checkpoint.load(path)
    assert isinstance(loaded, fnn.TrainState)
    assert loaded.model_state is None
    assert checkpoint.load(path, like=state).step == 2
    with_state = fnn.TrainState(small_net(), (), model_state=fnn.init_state(small_net()))
    checkpoint.save(path, with_state)
    back: Any = checkpoint.load(path)
    assert isinstance(back.model_state[1], fnn.BatchNormState)
    assert "model_state" in checkpoint.read_info(path).structure
