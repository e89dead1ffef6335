"""Training k steps, saving, loading in a fresh process and continuing is bit-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import functional_nn as fnn
from functional_nn import checkpoint
from tests.conftest import ROOT, same_bits
from tests.resume_job import optimizer, stream


@pytest.mark.parametrize("k", [0, 3, 4, 11])
def test_resume_in_a_fresh_process_is_bit_identical(tmp_path: Path, k: int) -> None:
    total = 15  # 4 batches an epoch, so some k stop mid-epoch and some at its end
    opt = optimizer()
    params = fnn.mlp([4, 6, 4], seed=1)
    start: fnn.TrainState[Any, Any] = fnn.TrainState(params, opt.init(params), 0)
    step = fnn.train_step(opt)
    straight = fnn.fit(step, start, stream(0, total))

    path = tmp_path / "state.npz"
    checkpoint.save(path, fnn.fit(step, start, stream(0, k)))
    subprocess.run([sys.executable, "-m", "tests.resume_job", str(path), str(total)],
                   check=True, cwd=ROOT)
    resumed = checkpoint.load(path, like=straight)

    assert resumed.step == straight.step == total
    assert resumed.loss == straight.loss
    assert same_bits(resumed, straight)
