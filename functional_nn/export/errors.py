"""What goes wrong in an export: :class:`ExportError`, and :func:`require`, which names the
``export`` extra when one of its libraries is missing."""

from __future__ import annotations

import importlib

__all__ = ["INSTALL_HINT", "ExportError", "MissingExtra", "require"]

INSTALL_HINT = "pip install 'functional_nn[export]'"


class ExportError(ValueError):
    """A network that cannot be exported, or a file that cannot be written or loaded back:
    one line naming the layer, the parameter or the file at fault."""


class MissingExtra(ImportError):
    """A library of the ``export`` extra is not installed."""


def require(module: str, what: str) -> None:
    """Import ``module`` (``onnx``, ``safetensors``), or raise :class:`MissingExtra` saying
    that ``what`` needs it and how to install it."""
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise MissingExtra(f"{what} needs {module} ({error}); install it with: "
                           f"{INSTALL_HINT}") from None
