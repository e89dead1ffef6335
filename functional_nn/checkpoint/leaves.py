"""A checkpoint's leaves: what each one was (its type, dtype and shape) and the array holding it.

A leaf is saved as one ``.npy`` member named by its pytree path (``<root>`` for a tree that is
a single leaf). Numpy arrays and scalars of bool or numeric dtype are saved as they are;
Python ``bool``, ``int`` (within int64), ``float`` and ``complex`` as 0-d arrays, and each
comes back as the type it was saved as. Its record: ``{"kind": "leaf", "key": "layers[0].w",
"type": "array", "dtype": "<f4", "shape": [784, 16]}``, ``type`` being ``array``, ``scalar``
(a numpy scalar) or the Python type's name.
"""

from __future__ import annotations

import attrs
import numpy as np
import numpy.typing as npt

from .errors import RecordError
from .values import json_field

__all__ = ["ROOT", "LeafInfo", "check_array", "leaf_from_json", "leaf_info", "leaf_label",
           "leaf_value", "short_label"]

ROOT = "<root>"  # the key of a tree that is a single leaf
_NUMERIC = "biufc"
_PY: dict[str, tuple[type, np.dtype[np.generic]]] = {  # Python leaf types, stored as 0-d arrays
    t.__name__: (t, np.dtype(d)) for t, d in
    [(bool, np.bool_), (int, np.int64), (float, np.float64), (complex, np.complex128)]}
_TYPES = frozenset(["array", "scalar", *_PY])


@attrs.frozen
class LeafInfo:
    """One saved leaf: its npz key (its pytree path), type, dtype string and shape."""

    key: str
    type: str
    dtype: str
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        """The leaf's node in the structure record."""
        return {"kind": "leaf", "key": self.key, "type": self.type, "dtype": self.dtype,
                "shape": list(self.shape)}


def leaf_info(key: str, leaf: object) -> tuple[LeafInfo, npt.NDArray[np.generic]]:
    """The record of a leaf and the array that holds it; raises for unsupported leaves."""
    if type(leaf) is np.ndarray:
        kind, array = "array", leaf
    elif isinstance(leaf, np.generic):
        kind, array = "scalar", np.asarray(leaf)
    elif type(leaf).__name__ in _PY and type(leaf) is _PY[type(leaf).__name__][0]:
        kind = type(leaf).__name__
        if kind == "int" and not -(2**63) <= leaf < 2**63:  # type: ignore[operator]
            raise RecordError(f"leaf {key} is the int {leaf}, which does not fit in int64")
        array = np.asarray(leaf, dtype=_PY[kind][1])
    else:
        raise RecordError(f"leaf {key} is {type(leaf).__qualname__}; a checkpoint holds numpy "
                          "arrays and scalars of numeric or bool dtype, and Python bool, int, "
                          "float and complex")
    if array.dtype.kind not in _NUMERIC:
        raise RecordError(f"leaf {key} has dtype {array.dtype}; only numeric and bool arrays "
                          "can be saved")
    return LeafInfo(key, kind, array.dtype.str, tuple(array.shape)), array


def leaf_from_json(obj: dict[str, object]) -> LeafInfo:
    """A leaf's validated record from parsed JSON; ``RecordError`` when it is malformed."""
    key, kind = json_field(obj, "key", str), json_field(obj, "type", str)
    dtype, shape = json_field(obj, "dtype", str), json_field(obj, "shape", list)
    if kind not in _TYPES:
        raise RecordError(f"leaf {key} has unknown type {kind!r}")
    dims = tuple(n for n in shape if type(n) is int and n >= 0)
    if len(dims) != len(shape):
        raise RecordError(f"leaf {key} has malformed shape {shape!r}")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        raise RecordError(f"leaf {key} has malformed dtype {dtype!r}") from None
    if dt.kind not in _NUMERIC or dt.str != dtype:
        raise RecordError(f"leaf {key} has unsupported dtype {dtype!r}")
    if kind in _PY and (dims or dt.kind != _PY[kind][1].kind):
        raise RecordError(f"leaf {key} is a Python {kind} stored as {dtype} {dims}")
    return LeafInfo(key, kind, dtype, dims)


def check_array(info: LeafInfo, dtype: np.dtype[np.generic], shape: tuple[int, ...]) -> None:
    """Raise ``RecordError`` unless an array of ``dtype`` and ``shape`` is the leaf's."""
    if dtype.str != info.dtype or shape != info.shape:
        raise RecordError(f"array {info.key} is {dtype.str} {shape}, but the "
                          f"structure record says {info.dtype} {info.shape}")


def leaf_value(info: LeafInfo, array: npt.NDArray[np.generic]) -> object:
    """The leaf a loaded array stands for: the array (read-only), a numpy or Python scalar."""
    check_array(info, array.dtype, array.shape)
    if info.type == "array":
        array.flags.writeable = False
        return array
    scalar = array[()]
    return scalar if info.type == "scalar" else _PY[info.type][0](scalar)


def _dtype_name(dtype: str) -> str:
    dt = np.dtype(dtype)
    return dt.name if dt.isnative else dt.str


def leaf_label(info: LeafInfo) -> str:
    """A leaf for messages: ``float32 array of shape (3,)``, ``a Python int``."""
    dtype = _dtype_name(info.dtype)
    if info.type == "array":
        return f"{dtype} array of shape {info.shape}"
    return f"numpy {dtype} scalar" if info.type == "scalar" else f"a Python {info.type}"


def short_label(info: LeafInfo) -> str:
    """A leaf in a one-line picture of a tree: ``float32[4,3]``, ``int``."""
    if info.type not in ("array", "scalar"):
        return info.type
    return f"{_dtype_name(info.dtype)}[{','.join(map(str, info.shape))}]"
