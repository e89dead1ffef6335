"""Root test configuration: skip doctest collection of modules whose optional extra is absent."""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("distributed") is None:
    collect_ignore_glob.append("functional_nn/distributed/*")
if any(importlib.util.find_spec(name) is None for name in ("onnx", "safetensors")):
    collect_ignore_glob.append("functional_nn/export/*")
