"""functional_nn: a pure-function neural-network library on numpy.

Parameters are immutable attrs pytrees; ``forward``, ``loss``, ``grad`` and ``update`` are pure
functions; training is a fold of a pure step over a stream of batches. ``flatten(params)``
stores a tree as one buffer, so every optimizer transform runs over one vector. Layers: Dense,
activations, Conv2D, pooling, ZeroPad2D, Flatten, Dropout, LayerNorm and BatchNorm (whose running
statistics are model state, threaded through the fold: see :mod:`functional_nn.rules`).
"""

from . import losses as losses
from . import optim as optim
from . import rules as rules
from . import testing as testing
from ._array import Array as Array
from ._array import readonly as readonly
from .flat import Flat as Flat
from .flat import flatten as flatten
from .flat import unflatten as unflatten
from .layers import AvgPool2D as AvgPool2D
from .layers import BatchNorm as BatchNorm
from .layers import BatchNormState as BatchNormState
from .layers import Conv2D as Conv2D
from .layers import Dense as Dense
from .layers import Dropout as Dropout
from .layers import Flatten as Flatten
from .layers import LayerNorm as LayerNorm
from .layers import MaxPool2D as MaxPool2D
from .layers import ReLU as ReLU
from .layers import Sequential as Sequential
from .layers import Sigmoid as Sigmoid
from .layers import Tanh as Tanh
from .layers import ZeroPad2D as ZeroPad2D
from .layers import convnet as convnet
from .layers import mlp as mlp
from .layers import param_count as param_count
from .losses import Loss as Loss
from .losses import log_softmax as log_softmax
from .losses import softmax as softmax
from .losses import softmax_cross_entropy as softmax_cross_entropy
from .maps import tree_map as tree_map
from .maps import tree_map_with_path as tree_map_with_path
from .maps import tree_reduce as tree_reduce
from .metrics import accuracy as accuracy
from .model import forward as forward
from .model import grad as grad
from .model import loss as loss
from .model import value_and_grad as value_and_grad
from .model import value_and_grad_with_state as value_and_grad_with_state
from .optim import apply_updates as apply_updates
from .rules import Context as Context
from .rules import init_state as init_state
from .rules import register as register
from .train import TrainingDiverged as TrainingDiverged
from .train import TrainState as TrainState
from .train import batches as batches
from .train import epochs as epochs
from .train import fit as fit
from .train import fit_iter as fit_iter
from .train import train_step as train_step
from .tree import TreeDef as TreeDef
from .tree import TreeStructureError as TreeStructureError
from .tree import array_leaves as array_leaves
from .tree import static_field as static_field
from .tree import tree_flatten as tree_flatten
from .tree import tree_leaves as tree_leaves
from .tree import tree_leaves_with_path as tree_leaves_with_path
from .tree import tree_paths as tree_paths
from .tree import tree_structure as tree_structure
from .tree import tree_unflatten as tree_unflatten

__version__ = "0.1.0"

__all__ = [
    "Array",
    "AvgPool2D",
    "BatchNorm",
    "BatchNormState",
    "Context",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flat",
    "Flatten",
    "LayerNorm",
    "Loss",
    "MaxPool2D",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TrainState",
    "TrainingDiverged",
    "TreeDef",
    "TreeStructureError",
    "ZeroPad2D",
    "__version__",
    "accuracy",
    "apply_updates",
    "array_leaves",
    "batches",
    "convnet",
    "epochs",
    "fit",
    "fit_iter",
    "flatten",
    "forward",
    "grad",
    "init_state",
    "log_softmax",
    "loss",
    "losses",
    "mlp",
    "optim",
    "param_count",
    "readonly",
    "register",
    "rules",
    "softmax",
    "softmax_cross_entropy",
    "static_field",
    "testing",
    "train_step",
    "tree_flatten",
    "tree_leaves",
    "tree_leaves_with_path",
    "tree_map",
    "tree_map_with_path",
    "tree_paths",
    "tree_reduce",
    "tree_structure",
    "tree_unflatten",
    "unflatten",
    "value_and_grad",
    "value_and_grad_with_state",
]
