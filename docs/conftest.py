"""The pages' doctests (``pytest --doctest-glob='*.md'`` over ``docs/``): a page whose examples
load MNIST is skipped, saying why, unless ``FUNCTIONAL_NN_DATA`` names the data; the build hooks'
own doctests run only with the ``docs`` extra installed."""

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if os.environ.get("FUNCTIONAL_NN_DATA"):
        return
    for item in items:
        if item.path.suffix == ".md" and item.path.is_relative_to(HERE) and _LOADS.search(
                item.path.read_text(encoding="utf-8")):
            item.add_marker(pytest.mark.skip(
                reason=f"{item.path.name} trains on MNIST: set FUNCTIONAL_NN_DATA to a folder "
                       "holding mnist/"))
