"""One table of rules: each layer kind's forward rule and its vector-Jacobian rule, side by side.

A forward rule ``forward(layer, x, ctx) -> (y, residual)`` computes the layer's output and
whatever its VJP rule needs later. A VJP rule ``vjp(layer, residual, g, out, ctx) -> gx`` pulls
the output cotangent ``g`` back:

* it writes the gradient of every parameter leaf into the matching leaf of ``out``, a tree of
  the layer's type whose leaves are fresh writable arrays (views of the gradient buffer: write
  every element, with ``out=`` or ``[...] =``);
* it returns the input cotangent, or ``None`` when ``ctx.input_grad`` is false (the network's
  first layer: nobody needs it).

``g`` is a private temporary of the reverse sweep: a rule may overwrite it (and return it).
``ctx`` is a :class:`Context`: the mode (training or inference) and an explicit random key, so
layers such as Dropout are rules like any other. Add a layer kind with :func:`register`;
nothing in the library needs to change. Every network, built-in or not, runs these rules.

Model state
-----------
Some layers carry values that are not parameters (no gradient, not touched by the optimizer)
but change as training goes: BatchNorm's running statistics. As in equinox's ``State``, they
are a separate pytree threaded through the computation, never hidden in the layer:

* A stateful kind registers two more rules: ``init_state(layer) -> state`` (its state before
  training) and ``next_state(layer, residual, ctx) -> state`` (its state after the forward pass
  that returned ``residual``; at inference, the state it was given). The forward rule reads
  the layer's current state as ``ctx.state``; its signature is the one above, so the new
  state is a function of what the forward rule kept, and stateless rules know nothing of it.
* Containers thread it: a :class:`~functional_nn.layers.Sequential`'s state is a tuple with
  one entry per layer (``None`` for stateless ones), and ``ctx.child(i)`` gives layer ``i``
  its entry; a :class:`~functional_nn.flat.Flat`'s state is its tree's. A network without a
  stateful layer has state ``None``, so nothing changes for it.
* :func:`init_state` makes a network's state; ``forward(params, x, state=...)`` (and every
  metric) runs at inference with it; ``value_and_grad_with_state(params, x, y, state=...)``
  returns ``(loss, grads, new_state)``; ``TrainState.model_state`` carries it through the
  training fold, and ``train_step`` threads it (``value_and_grad`` itself is unchanged).

The rules live beside their kinds' data: ``dense.py`` (Dense, activations, Sequential, Flat),
``conv.py`` (Conv2D, Flatten), ``pooling.py``, ``norms.py`` (LayerNorm, BatchNorm) and
``dropout.py``; ``core.py`` holds the protocol.
"""

from . import conv as conv
from . import dense as dense
from . import dropout as dropout
from . import norms as norms
from . import pooling as pooling
from .core import Context as Context
from .core import ForwardRule as ForwardRule
from .core import InitStateRule as InitStateRule
from .core import NextStateRule as NextStateRule
from .core import Rule as Rule
from .core import UnknownLayerError as UnknownLayerError
from .core import VjpRule as VjpRule
from .core import init_state as init_state
from .core import next_state as next_state
from .core import out_like as out_like
from .core import register as register
from .core import rule_for as rule_for
from .core import sum_to as sum_to

__all__ = ["Context", "ForwardRule", "InitStateRule", "NextStateRule", "Rule",
           "UnknownLayerError", "VjpRule", "init_state", "next_state", "out_like", "register",
           "rule_for", "sum_to"]
