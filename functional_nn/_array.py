"""Array conventions shared by the library: the array type and read-only leaves."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

Array: TypeAlias = npt.NDArray[np.floating]
"""A floating-point numpy array: the leaves of parameter trees and the values that flow."""


def readonly(value: object) -> Array:
    """A read-only floating array holding ``value``; copies only when it was writable.

    An array that is already read-only is trusted and kept as it is, so rebuilding parameters
    from read-only leaves never copies.

    >>> a = readonly([1.0, 2.0])
    >>> a.flags.writeable, a.dtype
    (False, dtype('float64'))
    """
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"expected a numeric array, got dtype {array.dtype}")
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    elif array.flags.writeable:
        array = array.copy()
    array.flags.writeable = False
    return array


def owned(array: Array) -> Array:
    """Mark a freshly computed array read-only in place and return it.

    Only for arrays that nobody else has seen (private temporaries about to be handed out).
    """
    array.flags.writeable = False
    return array
