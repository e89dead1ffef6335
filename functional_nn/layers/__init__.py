"""Parameter classes: frozen, slotted attrs pytrees whose array leaves are read-only.

A layer is data only (its parameters as leaves, its hyperparameters as static fields); what
it computes lives in :mod:`functional_nn.rules`. Images are channels-last:
``(batch, height, width, channels)``.
"""

from .conv import AvgPool2D as AvgPool2D
from .conv import Conv2D as Conv2D
from .conv import Flatten as Flatten
from .conv import MaxPool2D as MaxPool2D
from .conv import ZeroPad2D as ZeroPad2D
from .dense import ACTIVATIONS as ACTIVATIONS
from .dense import Dense as Dense
from .dense import ReLU as ReLU
from .dense import Sequential as Sequential
from .dense import Sigmoid as Sigmoid
from .dense import Tanh as Tanh
from .nets import convnet as convnet
from .nets import mlp as mlp
from .nets import param_count as param_count
from .norms import BatchNorm as BatchNorm
from .norms import BatchNormState as BatchNormState
from .norms import Dropout as Dropout
from .norms import LayerNorm as LayerNorm

__all__ = ["ACTIVATIONS", "AvgPool2D", "BatchNorm", "BatchNormState", "Conv2D", "Dense",
           "Dropout", "Flatten", "LayerNorm", "MaxPool2D", "ReLU", "Sequential", "Sigmoid",
           "Tanh", "ZeroPad2D", "convnet", "mlp", "param_count"]

# Checkpoints name a class by module and qualified name: every layer kind's public home is
# this package, so moving one between its files never changes or breaks a checkpoint.
for _kind in (AvgPool2D, BatchNorm, BatchNormState, Conv2D, Dense, Dropout, Flatten, LayerNorm,
              MaxPool2D, ReLU, Sequential, Sigmoid, Tanh, ZeroPad2D):
    _kind.__module__ = __name__
del _kind
