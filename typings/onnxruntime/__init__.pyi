# Type stubs for the parts of onnxruntime that functional_nn's README and tests use
# (onnxruntime ships none): sessions over dense tensors.
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy.typing as npt

class NodeArg:
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> list[int | str | None]: ...
    @property
    def type(self) -> str: ...

class SessionOptions:
    intra_op_num_threads: int
    inter_op_num_threads: int
    def __init__(self) -> None: ...

class InferenceSession:
    def __init__(self, path_or_bytes: str | bytes | PathLike[str],
                 sess_options: SessionOptions | None = None,
                 providers: Sequence[str] | None = None, **kwargs: Any) -> None: ...
    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, npt.NDArray[Any]],
            run_options: Any = None) -> list[npt.NDArray[Any]]: ...
    def get_inputs(self) -> list[NodeArg]: ...
    def get_outputs(self) -> list[NodeArg]: ...
