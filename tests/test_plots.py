"""Plots from ``functional-nn train --plots``, ``evaluate --plots`` and ``plot``: valid PNG files
of a sensible size; and one clear line, not a traceback, when matplotlib is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA, QUICK, needs_data, ok, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL = ["accuracy.png", "confusion.png", "loss.png", "misclassified.png", "weights.png"]


def has_matplotlib() -> bool:
    """Whether matplotlib can be imported here (without importing it into the test process)."""
    probe = subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True,
                           check=False)
    return probe.returncode == 0


needs_matplotlib = pytest.mark.skipif(
    not has_matplotlib(), reason="matplotlib is not installed (pip install -e '.[plot]')")


def check_png(path: Path) -> None:
    """A real PNG: the signature, more than 5 KB, and a plausible size in pixels."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 5_000, (path, len(data))
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
    assert 300 <= width <= 3000, (path, image.size)
    assert 300 <= height <= 3000, (path, image.size)


@pytest.fixture(scope="module")
def trained_with_plots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick run with --plots and --metrics; its folder."""
    if not DATA or not has_matplotlib():
        pytest.skip("needs FUNCTIONAL_NN_DATA and matplotlib")
    folder = tmp_path_factory.mktemp("plots")
    result = ok(run_cli("train", *QUICK, "--metrics", "metrics.json", "--plots", "run",
                        cwd=folder))
    assert "wrote run/confusion.png" in result.stdout
    return folder


@needs_data
@needs_matplotlib
def test_train_plots_are_valid_pngs(trained_with_plots: Path) -> None:
    folder = trained_with_plots / "run"
    assert sorted(p.name for p in folder.iterdir()) == ALL
    for name in ALL:
        check_png(folder / name)


@needs_data
@needs_matplotlib
def test_plot_from_a_checkpoint_draws_everything(trained_with_plots: Path) -> None:
    ok(run_cli("plot", "model.npz", "--out-dir", "again", cwd=trained_with_plots))
    folder = trained_with_plots / "again"
    assert sorted(p.name for p in folder.iterdir()) == ALL
    for name in ALL:
        check_png(folder / name)


@needs_data
@needs_matplotlib
def test_plot_from_metrics_json_draws_the_curves(trained_with_plots: Path) -> None:
    record = json.loads((trained_with_plots / "metrics.json").read_text())
    assert record["history"]
    ok(run_cli("plot", "metrics.json", "-o", "curves", cwd=trained_with_plots))
    folder = trained_with_plots / "curves"
    assert sorted(p.name for p in folder.iterdir()) == ["accuracy.png", "loss.png"]
    for name in ("accuracy.png", "loss.png"):
        check_png(folder / name)


def run_without_matplotlib(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a process where ``import matplotlib`` fails, as if it were not installed."""
    code = ("import sys; sys.modules['matplotlib'] = None; "
            "from functional_nn.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False, env=dict(os.environ))


def test_plot_without_matplotlib_says_how_to_install_it(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [
        {"epoch": 1, "step": 10, "loss": 1.0, "test_loss": 0.9, "test_accuracy": 0.5}]}))
    result = run_without_matplotlib("plot", "metrics.json", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("functional-nn: error: plotting needs matplotlib: "
                             "pip install 'functional_nn[plot]'\n")
    assert not (tmp_path / "plots").exists()


def test_train_plots_without_matplotlib_fail_before_training(tmp_path: Path) -> None:
    (tmp_path / "model.npz").write_bytes(b"an old checkpoint")
    result = run_without_matplotlib("train", "--plots", "p", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "plotting needs matplotlib: pip install 'functional_nn[plot]'" in result.stderr
    assert (tmp_path / "model.npz").read_bytes() == b"an old checkpoint"


@needs_data
@needs_matplotlib
def test_evaluate_plots(trained_with_plots: Path) -> None:
    result = ok(run_cli("evaluate", "model.npz", "--plots", "evaluated", "--json",
                        cwd=trained_with_plots))
    assert "wrote evaluated/weights.png" in result.stderr  # human lines: stderr with --json
    folder = trained_with_plots / "evaluated"
    assert sorted(p.name for p in folder.iterdir()) == ALL
    for name in ALL:
        check_png(folder / name)


@needs_matplotlib
def test_plot_reads_metrics_written_before_the_one_history_record(tmp_path: Path) -> None:
    history = [{"epoch": e, "steps": 10, "step": 10 * e, "loss": 1.0 / e, "test_loss": None,
                "test_accuracy": 0.5 + e / 10, "seconds": 0.1} for e in (1, 2)]
    (tmp_path / "metrics.json").write_text(json.dumps({"history": history}))
    ok(run_cli("plot", "metrics.json", "-o", "curves", cwd=tmp_path))
    assert sorted(p.name for p in (tmp_path / "curves").iterdir()) == ["accuracy.png",
                                                                       "loss.png"]


@needs_matplotlib
def test_a_malformed_history_is_one_error_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [{"epoch": 1}]}))
    result = run_cli("plot", "metrics.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "the run's history is not one written by 'functional-nn train'" in result.stderr
    assert result.stderr.count("\n") == 1
