"""``functional-nn train``: train a network, save the checkpoint, report per-epoch metrics.

Training is the library's :func:`functional_nn.recipes.epoch_stream` (one
:func:`functional_nn.fit_iter` stream of states, cut into epochs and evaluated after each);
the command only watches it: a progress bar, a loss trace, one line per epoch. The checkpoint
is written atomically at the end of every epoch, so an interrupted run leaves in ``--out``
the state after its last whole epoch (and a run stopped before its first leaves an existing
``--out`` alone), which ``--resume`` continues (:mod:`.resume`). A run that would not fit in
memory is refused before it is built.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import attrs
import numpy as np
import numpy.typing as npt

from .. import __version__, checkpoint
from .._memory import available_memory
from ..data import Dataset
from ..flat import Flat, unflatten
from ..layers import ACTIVATIONS, Sequential, param_count
from ..recipes import (
    OPTIMIZERS,
    RECIPES,
    SCHEDULES,
    Epoch,
    EpochRecord,
    Recipe,
    build_params,
    epoch_plan,
    epoch_stream,
    memory_estimate,
    model_spec,
)
from ..specs import SpecError, blueprint, network_inputs, spec_of
from ..train import TrainingDiverged, TrainState, steps_per_epoch
from .config import DEFAULT_RECIPE, RunConfig, describe, resolve
from .dataset import class_count, image_shape, load_data
from .errors import CliError, Interrupted
from .figures import draw_all, prepare_plots
from .files import check_distinct, check_writable, write_json
from .options import (
    Subparsers,
    add_data_options,
    add_json_option,
    hidden_sizes,
    network_spec,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from .output import Output
from .resume import Resumed, fingerprint, load_resumed, resumed_config

__all__ = ["TrainResult", "add_parser", "run", "train"]

State = TrainState[Flat[Sequential], Any]
Arrays = npt.NDArray[np.float32]


def add_parser(subparsers: Subparsers) -> None:
    """Register ``train`` and its options."""
    d = RECIPES[DEFAULT_RECIPE]
    p = subparsers.add_parser(
        "train", help="train a network and save a checkpoint",
        description="Train a network on an MNIST-style dataset: a multi-layer perceptron "
                    "(--hidden) or any network written as a spec (--model). The run starts "
                    f"from a named recipe (--recipe, default {DEFAULT_RECIPE}: "
                    "784-16-16-10 ReLU, adam 1e-3, batch 32, 5 epochs; convnet: a small "
                    "convnet); explicit flags override its values.")
    p.add_argument("--recipe", choices=sorted(RECIPES), help=f"(default {DEFAULT_RECIPE})")
    add_data_options(p, dataset_help="dataset to train on (default mnist)")
    p.add_argument("--hidden", type=hidden_sizes, metavar="SIZES",
                   help=f"comma-separated hidden layer sizes, '' or none for no hidden layer "
                        f"(default {','.join(map(str, d.hidden))})")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), help=f"(default {d.activation})")
    p.add_argument("--model", type=network_spec, metavar="SPEC",
                   help="the whole network, instead of --hidden and --activation: layers "
                        "first to last, comma-separated: conv<H>x<W>-<C> (C filters of HxW; "
                        "-same pads to keep the image size, -s<S> strides S), maxpool<W> and "
                        "avgpool<W> (WxW windows; -s<S> strides S), dense<N>, relu, tanh, "
                        "sigmoid, flatten, dropout<P>, batchnorm, layernorm. A network "
                        "starting with dense takes flat pixels, any other channels-last "
                        "images; the last layer gives one output per class. E.g. the Keras "
                        "simple convnet: conv3x3-32,relu,maxpool2,conv3x3-64,relu,maxpool2,"
                        "flatten,dropout0.5,dense10")
    p.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {d.optimizer})")
    p.add_argument("--lr", type=positive_float,
                   help=f"learning rate (default {d.learning_rate:g})")
    p.add_argument("--schedule", choices=SCHEDULES,
                   help="learning rate over the whole run: cosine decays to 0, exponential "
                        "halves it every epoch, warmup-cosine warms up linearly over "
                        f"--warmup-epochs and then decays (default {d.schedule})")
    p.add_argument("--warmup-epochs", type=non_negative_float, metavar="E",
                   help=f"warm-up length for warmup-cosine (default {d.warmup_epochs:g})")
    p.add_argument("--batch-size", type=positive_int, help=f"(default {d.batch_size})")
    p.add_argument("--epochs", type=positive_int, help=f"(default {d.epochs})")
    p.add_argument("--seed", type=non_negative_int,
                   help=f"seeds the initial weights, the shuffling and Dropout's masks "
                        f"(default {d.seed})")
    p.add_argument("--max-steps", type=positive_int, metavar="N",
                   help="stop after N optimizer steps in total, even mid-epoch, for quick runs "
                        "and tests; the schedule stays that of the full run, so the result is "
                        "the full run's state at step N")
    p.add_argument("--weight-decay", type=non_negative_float, metavar="L",
                   help="adamw's decoupled weight decay, or L2 for the other optimizers "
                        f"(default {d.weight_decay:g}: off)")
    p.add_argument("--clip", type=non_negative_float, metavar="NORM",
                   help=f"clip the gradients' global norm to NORM (default {d.clip:g}: off)")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue the run that CHECKPOINT (written by train) holds to its "
                        "configured end (or to --max-steps), bit-identical to the run never "
                        "stopped; options that would change the run are refused")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="checkpoint to write at the end of every epoch (default model.npz, "
                        "or the --resume checkpoint itself)")
    p.add_argument("--metrics", metavar="JSON", help="also write the metrics to this JSON file")
    p.add_argument("--plots", metavar="DIR", help="also draw the plots into DIR")
    add_json_option(p)
    p.set_defaults(run=run)


@attrs.frozen
class TrainResult:
    """The final state and what was measured on the way."""

    state: State
    architecture: dict[str, object]
    history: list[EpochRecord]
    loss_trace: dict[str, object]
    seconds: float
    data: dict[str, object] = attrs.field(factory=dict)


class _Progress:
    """The epoch stream's watch: a tqdm bar per epoch when shown, and the last step made."""

    def __init__(self, epochs: int, show: bool) -> None:
        self.epochs, self.show, self.step = epochs, show, 0

    def __call__(self, states: Iterator[State], epoch: int, steps: int) -> Iterator[State]:
        """Yield ``states`` unchanged while the bar counts them with the running loss."""
        bar = _progress_bar(steps, f"epoch {epoch + 1}/{self.epochs}") if self.show else None
        loss_sum = 0.0
        try:
            for i, state in enumerate(states, 1):
                self.step = state.step
                if bar is not None:
                    loss_sum += state.loss
                    if i % 50 == 0 or i == steps:  # formatting costs more than a small step
                        bar.set_postfix_str(f"loss {loss_sum / i:.4f}", refresh=False)
                    bar.update(1)
                yield state
        finally:
            if bar is not None:
                bar.close()


def _progress_bar(total: int, desc: str) -> _Bar | None:
    """A tqdm bar on stderr, or ``None`` without tqdm."""
    try:
        from tqdm import tqdm  # an optional extra
    except ImportError:
        return None
    bar: _Bar = tqdm(total=total, desc=desc, unit="step", leave=False, mininterval=0.2)
    return bar


class _Bar(Protocol):
    """The part of tqdm's interface used here (tqdm ships no type hints)."""

    def update(self, n: int) -> object: ...
    def set_postfix_str(self, s: str, refresh: bool) -> None: ...
    def close(self) -> None: ...


def _finite(value: float) -> float | None:
    """A float for JSON: ``None`` for NaN or infinity."""
    return value if math.isfinite(value) else None


def _trace(epoch: Epoch, every: int) -> list[float]:
    """The loss trace of one epoch: at every ``every``-th step of the run, the mean loss of
    the ``every`` steps up to it (of those in this epoch)."""
    before = epoch.record.step - epoch.record.steps
    return [float(np.mean(epoch.losses[max(0, i + 1 - every):i + 1]))
            for i in range(epoch.record.steps) if (before + i + 1) % every == 0]


def _name(recipe: Recipe, shape: tuple[int, ...], classes: int) -> str:
    """The network as the lines name it: an MLP by its sizes, another by its spec."""
    if recipe.model is None:
        return "-".join(map(str, [math.prod(shape), *recipe.hidden, classes]))
    return recipe.model


def _check_fit(config: RunConfig, shape: tuple[int, ...], classes: int, samples: int,
               test: int) -> None:
    """Refuse, in one line, a network that does not fit the data, and a run that the machine
    has not the memory for."""
    recipe = config.recipe
    try:
        need = memory_estimate(recipe, shape, classes, samples, test)
    except SpecError as error:
        raise CliError(f"model {recipe.model} does not fit {config.dataset} "
                       f"({'x'.join(map(str, shape))} images, {classes} classes): "
                       f"{error}") from None
    room = available_memory()
    if room is not None and need > room:
        params = param_count(blueprint(model_spec(recipe, classes), shape))
        what = "--model" if recipe.model else "--hidden sizes"
        raise CliError(f"out of memory: training a {_name(recipe, shape, classes)} network "
                       f"({params:,} parameters) with {recipe.optimizer} at batch "
                       f"{recipe.batch_size} needs about {need / 1e9:.1f} GB, but "
                       f"{room / 1e9:.1f} GB is available; try a smaller {what} or "
                       "--batch-size")


def _architecture(recipe: Recipe, net: Sequential, x: Arrays,
                  classes: int) -> dict[str, object]:
    """What the checkpoint records of the network: its spec, input shape and size (an MLP's
    layer sizes and activation too)."""
    out: dict[str, object] = {"spec": spec_of(net), "input_shape": list(x.shape[1:]),
                              "parameters": param_count(net)}
    if recipe.model is None:
        out = {"sizes": [x.shape[1], *recipe.hidden, classes], "activation": recipe.activation,
               **out}
    return out


def _merged(before: EpochRecord, now: EpochRecord) -> EpochRecord:
    """One record of an epoch that a stop cut in two: ``before`` the stop, ``now`` after."""
    steps = before.steps + now.steps
    loss = (before.train_loss * before.steps + now.train_loss * now.steps) / steps
    return attrs.evolve(now, steps=steps, train_loss=loss, seconds=before.seconds + now.seconds)


def train(config: RunConfig, data: Dataset, output: Output, *, show_progress: bool,
          resumed: Resumed | None = None,
          on_epoch: Callable[[TrainResult], None] | None = None) -> TrainResult:
    """Run the recipe as the library's :func:`~functional_nn.recipes.epoch_stream`, reporting
    each epoch as it ends (and handing the result so far to ``on_epoch``), so the result is
    the library's to the bit; ``resumed`` continues a run stopped earlier."""
    recipe = config.recipe
    classes, shape = class_count(data), image_shape(data)
    plan = epoch_plan(steps_per_epoch(len(data.train_x), recipe.batch_size), recipe.epochs,
                      config.max_steps)
    if not plan:
        raise CliError(f"dataset {config.dataset!r} has no training images")
    _check_fit(config, shape, classes, len(data.train_x), len(data.test_x))
    stamp = fingerprint(data)
    params = None if resumed else build_params(recipe, shape, classes)
    net = unflatten(resumed.state.params) if resumed else params
    assert isinstance(net, Sequential)
    x, y = network_inputs(net, data.train_x), data.train_y
    test_x, test_y = network_inputs(net, data.test_x), data.test_y
    architecture = _architecture(recipe, net, x, classes)
    kind = f" {recipe.activation}" if recipe.model is None else ""
    output.say(f"training a {_name(recipe, shape, classes)}{kind} network "
               f"({param_count(net):,} parameters) on {config.dataset}: {len(x):,} train / "
               f"{len(test_x):,} test images")
    output.say(describe(recipe, sum(plan)))
    if resumed:
        output.say(f"resuming {resumed.path} at step {resumed.state.step:,}")
    # a loss trace of at most ~200 points for the plots; a resumed run keeps its own
    every = resumed.every if resumed else max(1, sum(plan) // 200)
    progress = _Progress(len(plan), show_progress)
    history: list[EpochRecord] = list(resumed.history) if resumed else []
    trace: list[float] = list(resumed.trace) if resumed else []
    started, before = time.perf_counter(), resumed.seconds if resumed else 0.0
    state = resumed.state if resumed else None
    try:
        for epoch in epoch_stream(recipe, x, y, test_x, test_y, classes=classes, params=params,
                                  max_steps=config.max_steps, watch=progress, state=state):
            r = epoch.record
            if history and history[-1].epoch == r.epoch:  # the epoch a stop cut in two
                history[-1] = r = _merged(history[-1], r)
            else:
                history.append(r)
            trace += _trace(epoch, every)
            state = epoch.state
            if on_epoch is not None:  # first: once its line is out, the epoch is saved
                on_epoch(TrainResult(state, architecture, list(history), {"every": every,
                                     "loss": list(trace)},
                                     before + time.perf_counter() - started, stamp))
            output.say(f"epoch {r.epoch}/{len(plan)}: loss {r.train_loss:.4f}, test accuracy "
                       f"{r.test_accuracy:.2%}, {r.seconds:.1f} s")
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted at step {progress.step}") from None
    except checkpoint.CheckpointError as error:  # saving an epoch: it names the file
        raise CliError(str(error)) from None
    except ValueError as error:  # inputs that no training can use
        raise CliError(f"dataset {config.dataset!r}: {error}") from None
    assert state is not None
    trace_record: dict[str, object] = {"every": every, "loss": trace}
    return TrainResult(state, architecture, history, trace_record,
                       before + time.perf_counter() - started, stamp)


def summary(config: RunConfig, result: TrainResult) -> dict[str, object]:
    """What the run was and what it measured: the metrics JSON and the checkpoint metadata."""
    return {
        "dataset": config.dataset,
        "recipe": config.recipe_name,
        "architecture": result.architecture,
        "config": config.to_json(),
        "seed": config.recipe.seed,
        "epochs": len(result.history),
        "steps": result.state.step,
        "history": [record.to_json() for record in result.history],
        "loss_trace": result.loss_trace,
        "test_accuracy": result.history[-1].test_accuracy,
        "test_loss": _finite(result.history[-1].test_loss),
        "seconds": round(result.seconds, 3),
        "data": result.data,
        "functional_nn_version": __version__,
    }


def run(args: argparse.Namespace, output: Output) -> int:
    """``functional-nn train``."""
    options = vars(args)
    config = (resumed_config(args.resume, options) if args.resume
              else resolve(args.recipe, options))
    out: str = args.out or args.resume or "model.npz"
    # Every output location is checked before the data loads and training starts, and no
    # output may overwrite another (or the checkpoint being resumed, but for --out itself).
    check_distinct({"checkpoint": out, "metrics": args.metrics}, args.plots)
    if args.resume:
        check_distinct({"resumed checkpoint": args.resume, "metrics": args.metrics},
                       args.plots)
    check_writable(out, "checkpoint")
    if args.metrics:
        check_writable(args.metrics, "metrics")
    if args.plots:
        prepare_plots(args.plots)
    saved: list[TrainResult] = []
    untouched = f"{out} left untouched" if os.path.exists(out) else f"nothing written to {out}"

    def left() -> str:
        """What the interrupted or failed run leaves in ``--out``."""
        if not saved:
            return untouched
        last = saved[-1]
        return (f"{out} holds epoch {last.history[-1].epoch} (step {last.state.step:,}): "
                f"continue it with 'functional-nn train --resume {out}'")

    def save(result: TrainResult) -> None:
        checkpoint.save(out, result.state, metadata=summary(config, result))
        saved.append(result)

    try:
        data = load_data(config.dataset, args.data_dir, download=not args.no_download)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted while loading the data; {untouched}") from None
    resumed = load_resumed(args.resume, config, data) if args.resume else None
    show = not output.as_json and output.stderr.isatty()
    try:
        result = train(config, data, output, show_progress=show, resumed=resumed,
                       on_epoch=save)
    except Interrupted as error:
        raise Interrupted(f"{error}; {left()}") from None
    except KeyboardInterrupt:  # before the first step
        raise Interrupted(f"interrupted at step {resumed.state.step if resumed else 0}; "
                          f"{left()}") from None
    except TrainingDiverged as error:
        raise CliError(f"training diverged at step {error.step}: the loss became {error.loss}; "
                       f"try a lower --lr (now {config.recipe.learning_rate:g}) or --clip 1; "
                       f"{left()}") from None
    if not saved or saved[-1].state is not result.state:  # a resumed run with nothing to do
        save(result)
    record = summary(config, result)
    record["checkpoint"] = out
    if args.metrics:
        write_json(args.metrics, record)
    if args.plots:
        net = unflatten(result.state.params)
        for path in draw_all(args.plots, record, net, network_inputs(net, data.test_x),
                             data.test_y, state=result.state.model_state):
            output.say(f"wrote {path}")
    saved_what = f"saved {out}" + (f" and {args.metrics}" if args.metrics else "")
    accuracy = f"test accuracy {result.history[-1].test_accuracy:.2%} after " if (
        result.history) else ""
    output.say(f"{saved_what}: {accuracy}{result.state.step:,} steps, {result.seconds:.1f} s")
    if output.as_json:
        output.result(record)
    return 0
