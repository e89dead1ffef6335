"""Each example runs end to end in a small configuration, as a user would run it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, needs_data


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / script), *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_data
def test_seed_network() -> None:
    out = run("seed_network.py", "--epochs", "1", "--limit", "6000")
    assert "13,002 parameters" in out
    assert "initial loss" in out
    accuracy = float(out.rsplit("test accuracy ", 1)[1].split("%")[0])
    assert accuracy > 80


@needs_data
def test_compose_pipeline() -> None:
    out = run("compose_pipeline.py", "--epochs", "1", "--limit", "4000", "--every", "20")
    assert "lr " in out
    assert "probe accuracy" in out
    assert float(out.rsplit("test accuracy ", 1)[1].split("%")[0]) > 80


def test_property_test_your_layer() -> None:
    out = run("property_test_your_layer.py", "--examples", "20")
    assert "20 random networks: gradients match finite differences" in out


def test_regression() -> None:
    out = run("regression.py", "--epochs", "40")
    mse = float(out.split("test MSE ", 1)[1].split(",")[0])
    assert mse < 0.03  # the noise alone gives 0.01; an untrained net about 0.6
    assert "user-defined mean absolute error" in out
