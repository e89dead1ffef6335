"""The documentation's benchmark plot, from the README's numbers in ``benchmarks/results.csv``.

Run by hand after re-measuring (``bench_train.py``, ``bench_conv.py``) and updating the README
and the table, which ``tests/test_docs.py`` checks against each other::

    python benchmarks/plot_results.py              # writes docs/assets/benchmarks.svg

Needs matplotlib (the ``plot`` extra). The SVG keeps its text as text and carries no date, so
the same table gives the same file.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import attrs

from functional_nn import _atomic

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "benchmarks" / "results.csv"
PLOT = ROOT / "docs" / "assets" / "benchmarks.svg"


@attrs.frozen
class Result:
    """One row of the table: functional_nn's throughput and its ratio to each contender's."""

    benchmark: str
    network: str
    batch: int
    threads: int
    samples_per_s: float
    vs_numpy_loop: float | None
    vs_pytorch: float


def _ratio(text: str) -> float | None:
    return float(text) if text else None


def read_results(path: Path = TABLE) -> list[Result]:
    """The rows of ``path``, or a ``ValueError`` naming the file and the row at fault."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    results = []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            results.append(Result(row["benchmark"], row["network"], int(row["batch"]),
                                  int(row["threads"]), float(row["functional_nn_samples_per_s"]),
                                  _ratio(row["vs_numpy_loop"]), float(row["vs_pytorch"])))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path}:{number}: bad row {row}: {error}") from None
    return results


def _label(result: Result) -> str:
    rate = f"{result.samples_per_s / 1000:.1f}k" if result.samples_per_s >= 10_000 else (
        f"{result.samples_per_s:,.0f}")
    if result.benchmark == "mlp":
        return f"MLP {result.network}\nbatch {result.batch}\n{rate} samples/s"
    threads = "1 thread" if result.threads == 1 else f"{result.threads} threads"
    return f"convnet, {threads}\nbatch {result.batch}\n{rate} samples/s"


def plot(results: list[Result], out: Path = PLOT) -> None:
    """Bars of functional_nn's throughput over each contender's, one group per benchmark."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "functional_nn",
                         "font.size": 10})
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.38
    for offset, name, colour, ratios in (
            (-width / 2, "vs the numpy loop", "#7e57c2", [r.vs_numpy_loop for r in results]),
            (width / 2, "vs PyTorch (CPU)", "#ef6c00", [r.vs_pytorch for r in results])):
        xs = [i + offset for i, ratio in enumerate(ratios) if ratio is not None]
        values = [ratio for ratio in ratios if ratio is not None]
        bars = ax.bar(xs, values, width, label=name, color=colour)
        ax.bar_label(bars, labels=[f"{v:.2f}×" for v in values], padding=2, fontsize=9)
    ax.axhline(1.0, color="#424242", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(results)), [_label(r) for r in results], fontsize=8.5)
    ax.set_ylabel("functional_nn's samples/s ÷ the contender's")
    ax.set_title("Training throughput on MNIST (2-core AMD EPYC, OpenBLAS 0.3.31, "
                 "PyTorch 2.13): above 1, functional_nn is faster", fontsize=10)
    ax.set_ylim(0, max(r.vs_pytorch for r in results) * 1.15)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, loc="upper right")
    fig.tight_layout()
    svg = io.BytesIO()
    fig.savefig(svg, format="svg", metadata={"Date": None})
    plt.close(fig)
    _atomic.write_bytes(out, svg.getvalue())  # the old plot or the new one, never half of one


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=TABLE)
    parser.add_argument("--out", type=Path, default=PLOT)
    args = parser.parse_args(argv)
    plot(read_results(args.table), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
