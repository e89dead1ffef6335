"""The plots, drawn as PNG files: for ``train --plots``, ``evaluate --plots`` and ``plot``.

Loss and accuracy curves come from a run's record (the metrics JSON or a checkpoint's
metadata); the confusion matrix, the first layer's weights as image tiles (an MLP's) or the
first convolution's filters (a convnet's) and a grid of misclassified test digits come from a
network. matplotlib is an optional extra
(``pip install 'functional_nn[plot]'``), imported only when a plot is drawn, with the
non-interactive Agg backend and figures that never touch pyplot's global state. The record
is checked whole before anything is drawn, and the files of one command are written together:
each is rendered to a temporary file, and only when all of them are do they take their names,
so a failure leaves the folder as it was (no half-filled plots folder).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from .. import _atomic as atomic
from ..layers import Conv2D, Dense, Sequential
from ..metrics import confusion_matrix_from, predict
from ..recipes import EpochRecord
from ..specs import batch_for
from .errors import CliError
from .files import check_creatable, check_writable

__all__ = ["INSTALL_HINT", "check_record", "curve_figures", "draw_all", "history_of",
           "plot_curves", "plot_filters", "prepare_plots", "write_figures"]

INSTALL_HINT = "pip install 'functional_nn[plot]'"


def _figure_class() -> type:
    """matplotlib's ``Figure``, on the Agg backend; one clear error without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        raise CliError(f"plotting needs matplotlib: {INSTALL_HINT}") from None
    figure: type = Figure
    return figure


def prepare_plots(folder: str) -> None:
    """Before any work: check matplotlib is there and ``folder`` could take the files.

    A missing folder is made only when the plots are written, so a command that fails before
    then (a bad model, a missing dataset) leaves no empty folder behind.
    """
    _figure_class()
    check_creatable(folder, "plot folder")
    if os.path.isdir(folder):
        check_writable(os.path.join(folder, "loss.png"), "plots")


Figures = list[tuple[str, object]]
"""Figures to write, each with its file name."""


def write_figures(folder: str, figures: Figures) -> list[str]:
    """Write every figure as ``folder/name``, all or none: the paths written."""
    paths = [os.path.join(folder, name) for name, _ in figures]
    try:
        # a write that fails leaves no folder it made: the staged files go first, then them
        with atomic.new_folders(folder), contextlib.ExitStack() as stack:
            for path, (_, figure) in zip(paths, figures, strict=True):
                staged = stack.enter_context(atomic.replacing(path))
                figure.savefig(staged.file, format="png", dpi=120)  # type: ignore[attr-defined]
    except OSError as error:
        raise CliError(f"cannot write the plots into {folder}: "
                       f"{error.strerror or error}") from None
    return paths


def history_of(record: Mapping[str, object], source: str = "the run's record"
               ) -> list[EpochRecord]:
    """The per-epoch records in a run's record (a metrics JSON, a checkpoint's metadata)."""
    history = record.get("history")
    if not isinstance(history, list):
        return []
    try:
        return [EpochRecord.from_json(h) for h in history]
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise CliError(f"{source}: the run's history is not one written by 'functional-nn "
                       f"train' ({type(error).__name__}: {error})") from None


def _loss_trace(record: Mapping[str, object], source: str) -> tuple[int, list[float]] | None:
    """The loss trace of a run's record, checked: every how many steps, and the values."""
    trace = record.get("loss_trace")
    if trace is None:
        return None
    every = trace.get("every") if isinstance(trace, dict) else None
    values = trace.get("loss") if isinstance(trace, dict) else None
    if not (type(every) is int and every > 0 and isinstance(values, list) and all(
            v is None or type(v) in (int, float) for v in values)):
        raise CliError(f"{source}: the run's loss trace is not one written by 'functional-nn "
                       "train' (it needs a positive 'every' and a list of numbers 'loss')")
    return every, [math.nan if v is None else float(v) for v in values]


def check_record(record: Mapping[str, object], source: str) -> None:
    """Raise ``CliError`` now, before any work, if the record's curves cannot be drawn."""
    history_of(record, source)
    _loss_trace(record, source)


def curve_figures(record: Mapping[str, object], source: str = "the run's record") -> Figures:
    """``loss.png`` (per-step trace and per-epoch means) and ``accuracy.png`` (per epoch)."""
    history = history_of(record, source)
    trace = _loss_trace(record, source)
    if not history:
        return []
    figure_class = _figure_class()
    steps = [h.step for h in history]
    fig = figure_class(figsize=(7, 4.5))
    ax = fig.subplots()
    if trace is not None and trace[1]:
        every, values = trace
        ax.plot([every * (i + 1) for i in range(len(values))], values, lw=1, alpha=0.6,
                label="training loss" + (f" (mean of {every} steps)" if every > 1 else ""))
    ax.plot(steps, [h.train_loss for h in history], "o-", label="training loss (epoch mean)")
    ax.plot(steps, [h.test_loss for h in history], "s--", label="test loss")
    ax.set(xlabel="step", ylabel="cross-entropy", title="Loss", yscale="log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    figures: Figures = [("loss.png", fig)]
    fig = figure_class(figsize=(7, 4.5))
    ax = fig.subplots()
    epochs = [h.epoch for h in history]
    accuracy = [100 * h.test_accuracy for h in history]
    ax.plot(epochs, accuracy, "o-", color="tab:green")
    ax.annotate(f"{accuracy[-1]:.2f}%", (epochs[-1], accuracy[-1]), textcoords="offset points",
                xytext=(0, 8), ha="center")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy",
           xticks=epochs)
    ax.margins(x=0.08, y=0.2)  # room for the final value's label
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    figures.append(("accuracy.png", fig))
    return figures


def plot_curves(record: Mapping[str, object], folder: str,
                source: str = "the run's record") -> list[str]:
    """Write the curves of :func:`curve_figures` into ``folder``; the paths written."""
    return write_figures(folder, curve_figures(record, source))


def plot_confusion(confusion: npt.NDArray[np.integer]) -> tuple[str, object]:
    """``confusion.png``: counts, coloured by the fraction of each true class."""
    fig = _figure_class()(figsize=(6.5, 5.5))
    ax = fig.subplots()
    fractions = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    k = len(confusion)
    for (i, j), count in np.ndenumerate(confusion):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if fractions[i, j] > 0.5 else "black")
    ax.set(xticks=range(k), yticks=range(k), xlabel="predicted class", ylabel="true class",
           title="Confusion matrix (test set)")
    fig.colorbar(image, ax=ax, label="fraction of the true class")
    fig.tight_layout()
    return "confusion.png", fig


BAND = 9  # pixels above each tile for its label


def _mosaic(tiles: npt.NDArray[np.floating], fill: float) -> tuple[
        npt.NDArray[np.floating], int]:
    """Square tiles in a near-square grid, a label band above each; and the grid's columns.

    One image drawn once is much faster than one axes per tile.
    """
    n, side = len(tiles), tiles.shape[1]
    columns = math.ceil(math.sqrt(n))
    rows, width, height = math.ceil(n / columns), side + 2, side + BAND
    out = np.full((rows * height, columns * width), fill, dtype=np.float64)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        top, left = r * height + BAND - 1, c * width + 1
        out[top:top + side, left:left + side] = tile
    return out, columns


def _tile_figure(tiles: npt.NDArray[np.floating], labels: list[str], title: str, fill: float,
                 label_color: str, **imshow: object) -> object:
    """A figure of tiles, each labelled above, as one image."""
    mosaic, columns = _mosaic(tiles, fill)
    width, height = tiles.shape[1] + 2, tiles.shape[1] + BAND
    rows = mosaic.shape[0] // height
    fig = _figure_class()(figsize=(1.25 * columns + 0.3, 1.5 * rows + 0.5))
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest", **imshow)
    for k, label in enumerate(labels):
        r, c = divmod(k, columns)
        ax.text(c * width + width / 2, r * height + BAND - 2, label, ha="center",
                va="bottom", fontsize=8, color=label_color)
    ax.set_axis_off()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_weights(params: Sequential) -> tuple[str, object] | None:
    """``weights.png``: each first-layer unit's incoming weights as an image tile (a network
    whose first layer is a Dense on square images' pixels)."""
    first = params.layers[0] if params.layers else None
    if not isinstance(first, Dense) or math.isqrt(first.w.shape[0]) ** 2 != first.w.shape[0]:
        return None
    side, units = math.isqrt(first.w.shape[0]), min(first.w.shape[1], 64)
    tiles = first.w[:, :units].T.reshape(units, side, side).astype(np.float64)
    # Each tile on its own symmetric scale: the pattern matters, not the magnitude.
    tiles = tiles / np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    fig = _tile_figure(tiles, [f"unit {u}" for u in range(units)],
                       "First-layer weights (red +, blue −)", 0.0, "black",
                       cmap="RdBu_r", vmin=-1, vmax=1)
    return "weights.png", fig


def plot_filters(params: Sequential) -> tuple[str, object] | None:
    """``filters.png``: the first convolution's filters (of its first input channel), one
    tile each, magnified."""
    first = next((layer for layer in params.layers if isinstance(layer, Conv2D)), None)
    if first is None:
        return None
    kh, kw, channels = first.w.shape[:3]
    scale = max(1, 28 // max(kh, kw))  # a 3x3 kernel as 27x27 pixels, like a digit's tile
    side = max(kh, kw) * scale
    filters = first.w[:, :, 0, :64].transpose(2, 0, 1).astype(np.float64)
    tiles = np.zeros((len(filters), side, side))
    tiles[:, :kh * scale, :kw * scale] = filters.repeat(scale, axis=1).repeat(scale, axis=2)
    tiles /= np.maximum(np.abs(tiles).max(axis=(1, 2), keepdims=True), 1e-12)
    of = f" (input channel 0 of {channels})" if channels > 1 else ""
    fig = _tile_figure(tiles, [f"filter {k}" for k in range(len(tiles))],
                       f"First conv layer's {kh}x{kw} filters{of} (red +, blue −)", 0.0,
                       "black", cmap="RdBu_r", vmin=-1, vmax=1)
    return "filters.png", fig


def plot_misclassified(images: npt.NDArray[np.float32], labels: npt.NDArray[np.integer],
                       predicted: npt.NDArray[np.integer]) -> tuple[str, object] | None:
    """``misclassified.png``: the first 36 wrongly classified test images (flat or
    channels-last, one channel)."""
    wrong = np.flatnonzero(predicted != labels)[:36]
    pixels = math.prod(images.shape[1:])
    side = math.isqrt(pixels)
    if not len(wrong) or side * side != pixels:
        return None
    tiles = images[wrong].reshape(len(wrong), side, side).astype(np.float64)
    fig = _tile_figure(tiles, [f"#{i}: {labels[i]}→{predicted[i]}" for i in wrong],
                       "Misclassified test images (#index: true→predicted)", 1.0, "tab:red",
                       cmap="gray", vmin=0, vmax=1)
    return "misclassified.png", fig


def draw_all(folder: str, record: Mapping[str, object], params: Sequential,
             test_x: npt.NDArray[np.float32], test_y: npt.NDArray[np.integer],
             warn: Callable[[str], None] | None = None,
             source: str = "the run's record", state: object = None) -> list[str]:
    """Every plot there is data for, written together (all or none); the paths written.
    ``test_x`` is as the network takes it; ``state`` is its model state, if it has one."""
    figures = curve_figures(record, source)
    if not figures and warn is not None:
        warn("no training history recorded: the loss and accuracy curves are skipped")
    predicted = predict(params, test_x, batch_size=batch_for(params, test_x.shape[1:]),
                        state=state)
    classes = int(max(test_y.max(initial=0), predicted.max(initial=0))) + 1
    figures.append(plot_confusion(confusion_matrix_from(test_y, predicted, classes)))
    optional: Sequence[tuple[str, object] | None] = [
        plot_weights(params), plot_filters(params), plot_misclassified(test_x, test_y,
                                                                        predicted)]
    return write_figures(folder, figures + [f for f in optional if f is not None])
