"""``train --resume CHECKPOINT``: the run a checkpoint holds, continued where it stopped.

A checkpoint written by ``train`` holds the run's :class:`~functional_nn.train.TrainState`,
and in its metadata the run's whole configuration (the recipe with every flag applied, and
the dataset), its history and loss trace, and a fingerprint of the data it trained on. The run
is rebuilt from the metadata alone; flags that would change it are refused, and so are a
dataset other than the one it trained on and arrays that are not a state of that run. Then the
library's :func:`~functional_nn.recipes.epoch_stream` goes on from the state's step, so the
result is bit-identical to the run never stopped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from .. import checkpoint
from ..data import Dataset
from ..flat import Flat, flatten
from ..layers import Sequential
from ..recipes import Recipe, build_optimizer, build_params, epoch_plan
from ..rules import init_state
from ..specs import SpecError
from ..train import TrainState, steps_per_epoch
from .config import RECIPE_OPTIONS, RunConfig
from .dataset import class_count, image_shape
from .errors import CliError, UsageError
from .figures import history_of

__all__ = ["Resumed", "fingerprint", "load_resumed", "resumed_config"]

State = TrainState[Flat[Sequential], Any]
_CLI_FIELDS = ("recipe", "dataset", "max_steps")


def fingerprint(data: Dataset) -> dict[str, object]:
    """What identifies the data a run trained on: its sizes and a digest of its arrays."""
    digest = hashlib.blake2b(digest_size=16)
    for array in (data.train_x, data.train_y, data.test_x, data.test_y):
        digest.update(repr((array.dtype.str, array.shape)).encode())
        digest.update(np.ascontiguousarray(array).data.cast("B"))  # no copy when contiguous
    return {"train": len(data.train_x), "test": len(data.test_x),
            "shape": list(data.train_x.shape[1:]), "classes": class_count(data),
            "blake2b": digest.hexdigest()}


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple | list) else f"{value}"


def resumed_config(path: str, options: Mapping[str, object]) -> RunConfig:
    """The configuration of the run in the checkpoint ``path``, refusing options that differ
    from it; ``--max-steps`` alone may be given anew (where to stop this time)."""
    stored = checkpoint.load_metadata(path).get("config")
    if not isinstance(stored, dict):
        raise CliError(f"{path}: its metadata holds no run configuration, so there is no run "
                       "to resume (was it written by 'functional-nn train'?)")
    try:
        recipe = Recipe(**{k: v for k, v in stored.items() if k not in _CLI_FIELDS})
        steps = options.get("max_steps")
        config = RunConfig(recipe=recipe, recipe_name=str(stored["recipe"]),
                           dataset=str(stored["dataset"]),
                           max_steps=steps if isinstance(steps, int) else None)
    except (KeyError, TypeError, ValueError) as error:
        raise CliError(f"{path}: the run configuration in its metadata is not valid: "
                       f"{error}") from None
    given = {option: (options.get(option), getattr(recipe, field))
             for option, field in RECIPE_OPTIONS.items()}
    given["recipe"] = (options.get("recipe"), config.recipe_name)
    given["dataset"] = (options.get("dataset"), config.dataset)
    for option, (value, stored_value) in given.items():
        if value is not None and value != stored_value:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} {_shown(value)} differs from the run in {path} "
                             f"({_shown(stored_value)}): --resume continues that run as it "
                             "was configured")
    return config


@attrs.frozen
class Resumed:
    """A run read back from its checkpoint: where it stopped, and what it recorded."""

    path: str
    state: State
    history: list[Any]  # EpochRecord, as figures.history_of reads them
    trace: list[float]
    every: int
    seconds: float


def load_resumed(path: str, config: RunConfig, data: Dataset) -> Resumed:
    """The state in ``path``, checked to be one of the run ``config`` on ``data``."""
    metadata = checkpoint.load_metadata(path)
    recorded = metadata.get("data")
    if recorded is not None and recorded != fingerprint(data):
        raise CliError(f"{path} was trained on other {config.dataset} data than this "
                       f"({recorded} now {fingerprint(data)}); --resume needs the same data")
    recipe = config.recipe
    per_epoch = steps_per_epoch(len(data.train_x), recipe.batch_size)
    try:
        flat = flatten(build_params(recipe, image_shape(data), class_count(data)))
    except SpecError as error:
        raise CliError(f"{path}: its model does not fit the {config.dataset} data: "
                       f"{error}") from None
    like = TrainState(flat, build_optimizer(recipe, per_epoch).init(flat), 0, 0.0,
                      init_state(flat))
    try:
        state: State = checkpoint.load(path, like=like)
    except checkpoint.CheckpointError as error:
        text = str(error)
        if "does not match like=" not in text:
            raise
        raise CliError(text.replace("does not match like=", "does not hold a state of the "
                                    "run its metadata configures:")) from None
    end = sum(epoch_plan(per_epoch, recipe.epochs, config.max_steps))
    if config.max_steps is not None and state.step > end:
        raise UsageError(f"--max-steps {config.max_steps}: {path} is at step {state.step} "
                         "already")
    trace = metadata.get("loss_trace")
    every = trace.get("every") if isinstance(trace, dict) else None
    values = trace.get("loss") if isinstance(trace, dict) else None
    seconds = metadata.get("seconds")
    return Resumed(path, state, history_of(metadata, path),
                   [v for v in values if isinstance(v, float | int)]
                   if isinstance(values, list) else [],
                   every if type(every) is int and every > 0 else max(1, end // 200),
                   float(seconds) if isinstance(seconds, float | int) else 0.0)
