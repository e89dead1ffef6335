"""Checkpoints: save any pytree to an ``.npz`` file atomically, and load it without unpickling.

The file (:mod:`.archive`) holds one ``.npy`` member per leaf, named by the leaf's pytree path
(:func:`~functional_nn.tree.tree_paths`, such as ``layers[0].w``; ``<root>`` when the whole
tree is one leaf), and a JSON structure record derived from the tree's
:class:`~functional_nn.tree.TreeDef` (:mod:`.record`): the node kinds, the attrs and
named-tuple classes (``module:qualname``) and field names, static field values, dict keys,
and each leaf's key, type, dtype and shape; beside it ``metadata``, the caller's JSON, such as
the architecture and training configuration a CLI needs to rebuild and resume a run.

Leaves are numpy arrays and scalars of bool or numeric dtype, and Python ``bool``, ``int``
(within int64), ``float`` and ``complex``, each of which comes back as the type it was saved
as. Loading never unpickles and never imports a module named by a file (:mod:`.classes`).
Every problem with a file raises :class:`CheckpointError` naming the file; a missing file too.

>>> import os, tempfile
>>> from functional_nn.layers import mlp
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = os.path.join(tmp, "model.npz")
...     save(path, mlp([4, 2], seed=0), metadata={"sizes": [4, 2], "epochs": 3})
...     load_metadata(path)
...     print(read_info(path).structure)
...     net = load(path)
{'sizes': [4, 2], 'epochs': 3}
Sequential(layers=(Dense(w=float32[4,2], b=float32[2]),))
>>> net.layers[0].w.dtype, net.layers[0].w.flags.writeable
(dtype('float32'), False)
"""

from .archive import FORMAT as FORMAT
from .archive import VERSION as VERSION
from .archive import CheckpointInfo as CheckpointInfo
from .archive import load as load
from .archive import load_metadata as load_metadata
from .archive import read_info as read_info
from .archive import save as save
from .errors import CheckpointError as CheckpointError
from .leaves import LeafInfo as LeafInfo

__all__ = [
    "FORMAT",
    "VERSION",
    "CheckpointError",
    "CheckpointInfo",
    "LeafInfo",
    "load",
    "load_metadata",
    "read_info",
    "save",
]
