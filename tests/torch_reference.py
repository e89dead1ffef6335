"""Reference trajectories of PyTorch's optimizers, written independently of functional_nn.optim.

``reference_trajectory`` transcribes the algorithm boxes of the PyTorch documentation
(``torch.optim.SGD``, ``Adam``, ``AdamW`` and ``RMSprop``, default ``foreach=False`` code path)
into plain float64 numpy loops over a list of parameter arrays. ``torch_trajectory`` runs the
real ``torch.optim`` classes when torch is installed; torch is never a dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
LR = float | Callable[[int], float]


def _lr(lr: LR, t: int) -> float:
    return lr(t) if callable(lr) else lr


def reference_trajectory(name: str, params: Sequence[npt.NDArray[np.floating]],
                         grads: Sequence[Sequence[npt.NDArray[np.floating]]],
                         lr: LR, **hyper: float) -> list[list[F64]]:
    """Parameters after each step of PyTorch's optimizer ``name`` fed the gradients ``grads``.

    ``name`` is one of sgd, momentum, nesterov, adam, adamw, rmsprop; ``lr`` may be a function
    of the step (the value an LR scheduler would have set before that step).
    """
    theta = [np.array(p, dtype=np.float64) for p in params]
    state: list[dict[str, F64]] = [{} for _ in theta]
    out: list[list[F64]] = []
    for t, g_list in enumerate(grads):
        gamma = _lr(lr, t)
        for i, g in enumerate(g_list):
            theta[i] = _step(name, theta[i], np.asarray(g, np.float64), state[i], gamma, t + 1,
                             hyper)
        out.append([p.copy() for p in theta])
    return out


def _step(name: str, theta: F64, g: F64, s: dict[str, F64], gamma: float, t: int,
          h: dict[str, float]) -> F64:
    if name == "sgd":
        return theta - gamma * g
    if name in ("momentum", "nesterov"):
        # SGD: b_t = mu b_{t-1} + (1 - tau) g_t (b_1 = g_1); g_t = g_t + mu b_t if nesterov
        mu = h.get("beta", 0.9)
        b = g.copy() if "b" not in s else mu * s["b"] + g
        s["b"] = b
        step = g + mu * b if name == "nesterov" else b
        return theta - gamma * step
    if name in ("adam", "adamw"):
        b1, b2 = h.get("b1", 0.9), h.get("b2", 0.999)
        eps = h.get("eps", 1e-8)
        if name == "adamw":  # AdamW: theta_t = theta_{t-1} - gamma lambda theta_{t-1}
            theta = theta - gamma * h.get("weight_decay", 0.01) * theta
        m = b1 * s.get("m", np.zeros_like(g)) + (1 - b1) * g
        v = b2 * s.get("v", np.zeros_like(g)) + (1 - b2) * g * g
        s["m"], s["v"] = m, v
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return theta - gamma * m_hat / (np.sqrt(v_hat) + eps)
    if name == "rmsprop":
        alpha, eps = h.get("alpha", 0.99), h.get("eps", 1e-8)
        v = alpha * s.get("v", np.zeros_like(g)) + (1 - alpha) * g * g
        s["v"] = v
        return theta - gamma * g / (np.sqrt(v) + eps)
    raise ValueError(f"unknown optimizer {name}")


def torch_trajectory(name: str, params: Sequence[npt.NDArray[np.floating]],
                     grads: Sequence[Sequence[npt.NDArray[np.floating]]], lr: LR,
                     **hyper: float) -> list[list[npt.NDArray[np.floating]]]:
    """The same as :func:`reference_trajectory`, computed by ``torch.optim`` itself.

    Runs in the dtype of ``params``. Raises ``ImportError`` when torch is not installed.
    """
    import torch

    tensors = [torch.nn.Parameter(torch.tensor(np.array(p))) for p in params]
    opt: torch.optim.Optimizer
    if name in ("sgd", "momentum", "nesterov"):
        mom = 0.0 if name == "sgd" else hyper.get("beta", 0.9)
        opt = torch.optim.SGD(tensors, lr=_lr(lr, 0), momentum=mom, nesterov=name == "nesterov")
    elif name in ("adam", "adamw"):
        betas = (hyper.get("b1", 0.9), hyper.get("b2", 0.999))
        eps = hyper.get("eps", 1e-8)
        if name == "adam":
            opt = torch.optim.Adam(tensors, lr=_lr(lr, 0), betas=betas, eps=eps)
        else:
            opt = torch.optim.AdamW(tensors, lr=_lr(lr, 0), betas=betas, eps=eps,
                                    weight_decay=hyper.get("weight_decay", 0.01))
    elif name == "rmsprop":
        opt = torch.optim.RMSprop(tensors, lr=_lr(lr, 0), alpha=hyper.get("alpha", 0.99),
                                  eps=hyper.get("eps", 1e-8))
    else:
        raise ValueError(f"unknown optimizer {name}")
    out = []
    for t, g_list in enumerate(grads):
        for group in opt.param_groups:
            group["lr"] = _lr(lr, t)
        for p, g in zip(tensors, g_list, strict=True):
            p.grad = torch.tensor(np.array(g)).to(p.dtype)
        opt.step()
        out.append([p.detach().numpy().copy() for p in tensors])
    return out
