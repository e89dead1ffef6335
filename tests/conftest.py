"""What the tests share: hypothesis profiles, the data marker, bit equality, the CLI runner.

CI (``CI=true``) runs derandomized, so a red build reproduces; locally, examples are random
each run. No deadlines: a 2-core CI machine under load must not turn slowness into failures.

Test modules import these helpers from here (``from tests.conftest import ...``), never from
one another.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import functional_nn as fnn

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

ROOT = Path(__file__).resolve().parent.parent
"""The repository's root folder."""

DATA = os.environ.get("FUNCTIONAL_NN_DATA")
"""A folder holding ``mnist/`` (and maybe other datasets), or ``None``."""

needs_data = pytest.mark.skipif(
    not DATA, reason="FUNCTIONAL_NN_DATA is not set: it must name a folder holding mnist/ "
                     "for the tests on real MNIST")


# --- bit equality ---------------------------------------------------------------------------


def leaf_bits(tree: object) -> list[bytes]:
    """Each leaf's bytes, in leaf order (arrays and scalars alike)."""
    return [np.asarray(leaf).tobytes() for leaf in fnn.tree_leaves(tree)]


def same_bits(a: object, b: object) -> bool:
    """Equal structure, and leaves of the same type with bit-identical values (NaN too)."""
    (la, ta), (lb, tb) = fnn.tree_flatten(a), fnn.tree_flatten(b)
    return ta == tb and all(type(x) is type(y) for x, y in zip(la, lb, strict=True)) and (
        leaf_bits(a) == leaf_bits(b))


# --- the command line, as a user runs it ----------------------------------------------------

needs_pillow = pytest.mark.skipif(importlib.util.find_spec("PIL") is None,
                                  reason="Pillow is not installed (pip install -e '.[images]')")
needs_tqdm = pytest.mark.skipif(importlib.util.find_spec("tqdm") is None,
                                reason="tqdm is not installed (pip install -e '.[progress]')")
QUICK = ("--max-steps", "300", "--epochs", "1")
"""``train`` options for a run of a few seconds."""


def run_cli(*args: str, cwd: Path, timeout: float = 120,
            exe: tuple[str, ...] = (sys.executable, "-m", "functional_nn"),
            ) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a fresh process, as a user would; returns the finished process."""
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    return subprocess.run([*exe, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """Assert the command succeeded, showing its stderr otherwise."""
    assert result.returncode == 0, result.stderr
    return result


def one_json(stdout: str) -> dict[str, Any]:
    """Exactly one JSON object and nothing else on stdout."""
    assert stdout.endswith("\n"), stdout
    assert stdout.count("\n") == 1, stdout
    obj = json.loads(stdout)
    assert isinstance(obj, dict)
    return obj
