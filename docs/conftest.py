"""The pages' doctests (``pytest --doctest-glob='*.md'`` over ``docs/``): a page whose examples
load MNIST is skipped, saying why, unless ``FUNCTIONAL_NN_DATA`` names the data, and so is one
whose examples import an optional library that is missing; the build hooks' own doctests run
only with the ``docs`` extra installed."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

_LOADS = re.compile(r"^>>> .*\bload_dataset\(", re.MULTILINE)  # an example that reads MNIST

collect_ignore_glob: list[str] = []
if any(importlib.util.find_spec(name) is None for name in ("mkdocs", "griffe", "latex2mathml")):
    collect_ignore_glob.append("hooks/*")


_EXTRAS = {"hypothesis": "testing"}  # what a page's examples may import, and its extra


def _skip_reason(page: Path) -> str | None:
    text = page.read_text(encoding="utf-8")
    for module, extra in _EXTRAS.items():
        imports = re.search(rf"^>>> (?:from|import) {module}\b", text, re.MULTILINE)
        if imports and importlib.util.find_spec(module) is None:
            return f"{page.name} needs {module}: pip install -e '.[{extra}]'"
    if _LOADS.search(text) and not os.environ.get("FUNCTIONAL_NN_DATA"):
        return f"{page.name} trains on MNIST: set FUNCTIONAL_NN_DATA to a folder holding mnist/"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".md" and item.path.is_relative_to(HERE):
            reason = _skip_reason(item.path)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
