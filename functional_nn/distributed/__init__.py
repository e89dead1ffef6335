"""Scale-out on Dask: parallel sweeps and a data-parallel gradient, with the fold unchanged.

``value_and_grad`` and ``update`` are pure, so training parallelises without locks: many
independent runs (:func:`sweep`), or one step's gradient mapped over shards of the batch and
reduced (:func:`sharded_value_and_grad`). Needs the ``dask`` extra
(``pip install 'functional_nn[dask]'``). With no client or address, a local cluster of worker
processes on 127.0.0.1 runs the work; with a scheduler address the same code runs on a cluster.
"""

try:
    import dask as _dask  # noqa: F401
    import distributed as _distributed  # noqa: F401
except ImportError as _missing:  # private: `error` was a public, unannotated module symbol
    raise ImportError(
        f"functional_nn.distributed needs Dask ({_missing}); install it with: "
        "pip install 'functional_nn[dask]'") from _missing

from .cluster import QUIET_SCHEDULER as QUIET_SCHEDULER
from .cluster import WORKER_ENV as WORKER_ENV
from .cluster import client_for as client_for
from .cluster import close as close
from .cluster import connect as connect
from .cluster import local_client as local_client
from .cluster import pin_blas as pin_blas
from .cluster import worker_environment as worker_environment
from .cluster import worker_pids as worker_pids
from .sharded import ShardedData as ShardedData
from .sharded import ShardedValueAndGrad as ShardedValueAndGrad
from .sharded import combine as combine
from .sharded import scatter_shards as scatter_shards
from .sharded import shard as shard
from .sharded import sharded_value_and_grad as sharded_value_and_grad
from .sweep import SweepData as SweepData
from .sweep import SweepResult as SweepResult
from .sweep import grid as grid
from .sweep import run_recipe as run_recipe
from .sweep import scatter_data as scatter_data
from .sweep import sweep as sweep
from .sweep import sweep_data as sweep_data
from .sweep import sweep_iter as sweep_iter

__all__ = [
    "QUIET_SCHEDULER",
    "WORKER_ENV",
    "ShardedData",
    "ShardedValueAndGrad",
    "SweepData",
    "SweepResult",
    "client_for",
    "close",
    "combine",
    "connect",
    "grid",
    "local_client",
    "pin_blas",
    "run_recipe",
    "scatter_data",
    "scatter_shards",
    "shard",
    "sharded_value_and_grad",
    "sweep",
    "sweep_data",
    "sweep_iter",
    "worker_environment",
    "worker_pids",
]
