"""Rebuilt trees checked as their constructors check them.

Rebuilding a tree sets each attrs node's fields without calling its ``__init__`` (the tree
module's way, so that nothing is copied or converted), so a file whose arrays agree with its
structure record could still hold a layer that no constructor would have built: a bias of the
wrong length, a 1-d or 3-d weight, a complex one. Each attrs node of a rebuilt tree is built
once more through its constructor (its converters, validators and ``__attrs_post_init__``),
children first, and refused, naming its path, when the constructor refuses it or would hold an
array of another dtype or shape. The tree handed out is the rebuilt one, unchanged, so that a
valid checkpoint still loads bit-identical.
"""

from __future__ import annotations

import attrs
import numpy as np

from .errors import RecordError
from .leaves import ROOT

__all__ = ["check_rebuilt"]


def _fields(node: object) -> list[tuple[str, object]]:
    if attrs.has(cls := type(node)):
        return [(f".{f.name}", getattr(node, f.name)) for f in attrs.fields(cls)]
    if isinstance(node, tuple) and hasattr(node, "_fields"):
        return [(f".{name}", value) for name, value in zip(node._fields, node, strict=True)]
    if isinstance(node, tuple | list):
        return [(f"[{i}]", value) for i, value in enumerate(node)]
    if isinstance(node, dict):
        return [(f"[{key!r}]", value) for key, value in node.items()]
    return []


def _check_node(node: object, path: str) -> None:
    cls = type(node)
    if not attrs.has(cls):
        return
    where, name = path.removeprefix(".") or ROOT, cls.__name__
    fields = attrs.fields(cls)
    try:
        if not all(f.init for f in fields):  # no constructor to call: its validators only
            attrs.validate(node)  # type: ignore[arg-type]  # an attrs instance: cls is
            return
        again = cls(**{f.alias: getattr(node, f.name) for f in fields})
    except Exception as error:  # whatever a class's own checks raise
        raise RecordError(f"at {where}: not a valid {name}: {error}") from None
    for f in fields:
        was, now = getattr(node, f.name), getattr(again, f.name)
        if isinstance(was, np.ndarray) and isinstance(now, np.ndarray) and (
                was.dtype != now.dtype or was.shape != now.shape):
            raise RecordError(f"at {where}.{f.name}: not a valid {name}: it holds "
                              f"{now.dtype} arrays of shape {now.shape} where the file has "
                              f"{was.dtype} {was.shape}")


def check_rebuilt(tree: object, path: str = "") -> None:
    """Raise ``RecordError`` at the first node of ``tree`` its constructor would refuse."""
    for suffix, child in _fields(tree):
        check_rebuilt(child, path + suffix)
    if attrs.has(type(tree)):
        _check_node(tree, path)
