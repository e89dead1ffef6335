"""Array conventions shared by the library: the array type and read-only leaves."""

from __future__ import annotations

import functools
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.floating]
"""A floating-point numpy array: the leaves of parameter trees and the values that flow."""


__all__ = ["Array", "is_frozen", "ones", "owned", "readonly"]


def is_frozen(array: np.ndarray) -> bool:
    """Whether nobody can write the array's data: it and every array it views are read-only.

    >>> base = np.zeros(3)
    >>> view = base[:2]
    >>> view.flags.writeable = False
    >>> is_frozen(view), is_frozen(owned(np.zeros(3)))
    (False, True)
    """
    node: object = array
    while isinstance(node, np.ndarray):
        if node.flags.writeable:
            return False
        node = node.base
    return not isinstance(node, bytearray)


def readonly(value: object) -> Array:
    """A read-only floating array holding ``value``; copies unless its data is already frozen.

    An array whose data nobody can write (see :func:`is_frozen`) is kept as it is, so building
    parameters from the library's own leaves never copies; anything else is copied, so writing
    to the caller's array later can never change the parameters.

    >>> a = readonly([1.0, 2.0])
    >>> a.flags.writeable, a.dtype
    (False, dtype('float64'))
    """
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"expected a numeric array, got dtype {array.dtype}")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    elif is_frozen(array):
        return array
    else:
        array = array.copy()
    return owned(array)


def owned(array: Array) -> Array:
    """Freeze a freshly computed array and hand it out as a read-only view of itself.

    Only for arrays that nobody else has seen (private temporaries about to be handed out).
    The view's base is read-only, so numpy refuses to make the view writable again.
    """
    array.setflags(write=False)
    return array.view()


@functools.lru_cache(maxsize=32)
def ones(n: int, dtype: np.dtype[Any]) -> Array:
    """A read-only vector of ``n`` ones of ``dtype``: a constant, made once per length and
    dtype, for sums written as matrix-vector products (``1ᵀ·g``)."""
    vector = np.ones(n, dtype)
    vector.flags.writeable = False
    return vector
