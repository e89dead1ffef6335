"""Where a parameter lives, as both export formats name it: its tree path written with dots
(``layers.0.w`` for ``layers[0].w``, a dict's ``['key']`` as ``key``; a
:class:`~functional_nn.flat.Flat`'s leaves under its tree's paths), so that an ONNX
initializer and a safetensors tensor of one parameter have one name."""

from __future__ import annotations

from typing import Any

from ..flat import Flattened, to_flattened
from ..tree import DICT, LEAF, TreeDef, child_paths, tree_flatten
from .errors import ExportError

__all__ = ["ROOT", "key", "keyed_leaves"]

ROOT = "<root>"  # the key of a tree that is one leaf, as in a checkpoint


def key(*parts: object) -> str:
    """Path parts joined by dots, empty ones left out: ``key("", "layers", 2) == "layers.2"``."""
    return ".".join(str(part) for part in parts if part != "")


def _segments(treedef: TreeDef[Any]) -> list[str]:
    if treedef.kind == DICT:
        return [str(k) for k in treedef.aux]
    return [s[1:] if s.startswith(".") else s[1:-1] for s in child_paths(treedef)]


def _keys(treedef: TreeDef[Any], prefix: str, out: list[str]) -> None:
    if treedef.kind == LEAF:
        out.append(prefix or ROOT)
    elif treedef.node_type is Flattened:  # a Flat: its leaves under its tree's paths
        _keys(treedef.children[0], prefix, out)
    else:
        for segment, child in zip(_segments(treedef), treedef.children, strict=True):
            _keys(child, key(prefix, segment), out)


def keyed_leaves(tree: object) -> tuple[list[str], list[object], TreeDef[Any]]:
    """The key and the leaf of each leaf of ``tree`` in leaf order, and the structure of
    ``tree`` with its Flats as :class:`~functional_nn.flat.Flattened` nodes (whose leaves are
    the trees' leaves: :func:`~functional_nn.flat.from_flattened` makes them Flats again)."""
    leaves, treedef = tree_flatten(to_flattened(tree))
    keys: list[str] = []
    _keys(treedef, "", keys)
    if len(set(keys)) < len(keys):
        twice = next(k for i, k in enumerate(keys) if k in keys[:i])
        raise ExportError(f"two leaves of the tree would both be named {twice!r}: rename a "
                          "dict key")
    return keys, leaves, treedef
