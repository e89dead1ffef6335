"""Static fields: attrs fields that belong to a pytree's structure, not to its leaves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

__all__ = ["STATIC", "is_static", "static_field"]

STATIC = "functional_nn.static"
"""The attrs metadata key that marks a field static."""


def _static_field(**kwargs: Any) -> Any:
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[STATIC] = True
    return attrs.field(metadata=metadata, **kwargs)


if TYPE_CHECKING:
    # To the checkers, static_field is attrs.field itself: its overloads type the default, and
    # mypy's attrs plugin and pyright's dataclass_transform both take it for a field specifier,
    # so a static field without a default is mandatory to them, as it is at run time. Both
    # would take a wrapper's call for a default value instead, whatever its signature.
    from attrs import field as static_field
else:
    def static_field(**kwargs):
        """An attrs field that belongs to the tree's structure, not to its leaves.

        Same as ``attrs.field(metadata={"functional_nn.static": True}, ...)``, to type checkers
        too: ``slope: float = static_field(default=0.01)``.
        """
        return _static_field(**kwargs)


def is_static(field: attrs.Attribute[Any]) -> bool:
    """Whether an attrs field is marked static."""
    return bool(field.metadata.get(STATIC, False))
