"""A testing kit for people who property-test pure functions and their own layers.

- :func:`check_grads`: a whole loss's gradient against central finite differences (float64);
- :func:`check_layer`: one layer's registered VJP rule, for every parameter leaf **and** the
  input, against finite differences; it names what is wrong (``input``, ``w[2, 0]``);
- :func:`assert_pure`: a function mutates no argument, gives the same bits twice and draws
  nothing from numpy's global RNG;
- :func:`check_tree_laws` and :func:`check_optimizer`: the laws pytrees and optimizers keep;
- :mod:`functional_nn.testing.strategies` (needs hypothesis: the ``testing`` extra): random
  networks, pytrees, layers and batches that fit a network.

Every failure is an ``AssertionError`` subclass, so pytest reports it as a test failure.
"""

from .grads import GradCheck as GradCheck
from .grads import GradientMismatch as GradientMismatch
from .grads import check_grads as check_grads
from .laws import LawBroken as LawBroken
from .laws import check_optimizer as check_optimizer
from .laws import check_tree_laws as check_tree_laws
from .layer import LayerGradientMismatch as LayerGradientMismatch
from .layer import check_layer as check_layer
from .purity import Impure as Impure
from .purity import assert_pure as assert_pure

__all__ = [
    "GradCheck",
    "GradientMismatch",
    "Impure",
    "LawBroken",
    "LayerGradientMismatch",
    "assert_pure",
    "check_grads",
    "check_layer",
    "check_optimizer",
    "check_tree_laws",
]
