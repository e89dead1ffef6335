"""Static field values, dict keys and metadata as JSON that gives back exactly what was saved.

JSON has no tuples, no non-finite floats and only string keys, so values are tagged:
``{"tuple": [...]}``, ``{"float": "nan"}`` (or ``"inf"``, ``"-inf"``) and ``{"dict": {...}}``
(string keys); ``None``, ``bool``, ``int``, ``str`` and lists are themselves. A value read back
is an :class:`Exact`, equal to another only when their JSON is (so ``1`` is not ``True`` and a
NaN equals a NaN), as a checkpoint compares them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TypeVar

from .errors import RecordError

__all__ = ["Exact", "decode_value", "encode_value", "json_field", "json_metadata"]

V = TypeVar("V")


def json_field(obj: dict[str, object], name: str, cls: type[V]) -> V:
    """The field ``name`` of a record's node, which must be a ``cls``; ``RecordError`` else."""
    value = obj.get(name)
    if type(value) is not cls:
        raise RecordError(f"malformed structure record: node {json.dumps(obj, sort_keys=True)[:80]}"
                          f" needs {name!r} to be a {cls.__name__}")
    return value


def encode_value(value: object, where: str) -> object:
    """``value`` as tagged JSON; raises ``RecordError`` for anything but JSON-like values."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if type(value) is list or type(value) is tuple:
        items = [encode_value(v, where) for v in value]
        return items if type(value) is list else {"tuple": items}
    if type(value) is dict:
        if not all(type(k) is str for k in value):
            raise RecordError(f"{where} is a dict with non-string keys, which JSON cannot hold")
        return {"dict": {k: encode_value(v, where) for k, v in value.items()}}
    raise RecordError(f"{where} is {type(value).__qualname__} {value!r:.60}; it must be None, "
                      "bool, int, float, str, or a tuple, list or dict (string keys) of those")


def decode_value(obj: object) -> object:
    """The value that :func:`encode_value` encoded."""
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if type(obj) is list:
        return [decode_value(v) for v in obj]
    if type(obj) is dict and len(obj) == 1:
        (tag, inner), = obj.items()
        if tag == "tuple" and type(inner) is list:
            return tuple(decode_value(v) for v in inner)
        if tag == "float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "dict" and type(inner) is dict:
            return {k: decode_value(v) for k, v in inner.items()}
    raise RecordError(f"malformed value {obj!r:.60}")


class Exact:
    """A value read from a record, equal to another when their JSON is; shown as the value."""

    __slots__ = ("json", "value")
    value: object
    json: str

    def __init__(self, encoded: object) -> None:
        object.__setattr__(self, "value", decode_value(encoded))
        object.__setattr__(self, "json", json.dumps(encoded, sort_keys=True))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"an Exact is immutable: cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Exact) and self.json == other.json

    def __hash__(self) -> int:
        return hash(self.json)

    def __repr__(self) -> str:
        return repr(self.value)


def json_metadata(metadata: Mapping[str, object] | None) -> dict[str, object]:
    """Metadata as plain JSON; raises ``RecordError`` for anything JSON cannot hold exactly."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise RecordError(f"metadata must be a dict, got {type(metadata).__name__}")

    def check(value: object, where: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if type(key) is not str:
                    raise RecordError(f"metadata{where} has the non-string key {key!r}")
                check(item, f"{where}[{key!r}]")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                check(item, f"{where}[{i}]")
        else:
            encode_value(value, f"metadata{where}")  # None, bool, int, float or str
            if isinstance(value, float) and not math.isfinite(value):
                raise RecordError(f"metadata{where} is {value}, which JSON cannot hold")

    check(dict(metadata), "")
    out: dict[str, object] = json.loads(json.dumps(dict(metadata), allow_nan=False))
    return out
