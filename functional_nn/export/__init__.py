"""Take a trained network elsewhere: ONNX models and safetensors weight files.

Needs the ``export`` extra (``pip install 'functional_nn[export]'``: onnx, onnxruntime,
safetensors); this package imports without it, and each function that needs a library says
how to install it when it is missing.

* :func:`to_onnx` (:func:`onnx_model` for the model itself): the network at inference as an
  ONNX graph, input ``"input"`` (float32, ``(batch, *input_shape)``, dynamic batch, images
  channels-last as :func:`~functional_nn.forward` takes them), output ``"logits"`` or, with
  ``probabilities=True``, ``"probabilities"``. Every built-in layer kind has an export rule
  (:mod:`.rules`); register your own kind's with :func:`register_onnx` (the protocol:
  :mod:`.graph`).
* :func:`to_safetensors` / :func:`from_safetensors`: every array leaf under its dotted tree
  path (``layers.0.w``), the metadata as strings; loading into a tree of the same structure
  gives the same bits back (:mod:`.weights`).
"""

from . import rules as rules
from .errors import INSTALL_HINT as INSTALL_HINT
from .errors import ExportError as ExportError
from .errors import MissingExtra as MissingExtra
from .graph import Graph as Graph
from .graph import OnnxRule as OnnxRule
from .graph import Value as Value
from .graph import onnx_rule_for as onnx_rule_for
from .graph import register_onnx as register_onnx
from .onnx_model import INPUT as INPUT
from .onnx_model import LOGITS as LOGITS
from .onnx_model import PROBABILITIES as PROBABILITIES
from .onnx_model import onnx_model as onnx_model
from .onnx_model import to_onnx as to_onnx
from .weights import from_safetensors as from_safetensors
from .weights import safetensors_metadata as safetensors_metadata
from .weights import to_safetensors as to_safetensors
from .weights import weight_keys as weight_keys

__all__ = ["INPUT", "INSTALL_HINT", "LOGITS", "PROBABILITIES", "ExportError", "Graph",
           "MissingExtra", "OnnxRule", "Value", "from_safetensors", "onnx_model",
           "onnx_rule_for", "register_onnx", "rules", "safetensors_metadata", "to_onnx",
           "to_safetensors", "weight_keys"]
