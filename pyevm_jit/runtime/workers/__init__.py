"""Compiler pools: where bytecode becomes object code.

`tasks` (the task, the failure kinds, the compiler, the pool protocol), `queue` (waiting jobs in
the order they run), `inprocess` (`InProcessPool`: one helper thread, `worker_count == 0`),
`child` (the worker process's main), `processes` (`ProcessPool`: worker processes).
"""

from __future__ import annotations

from pyevm_jit.runtime.workers.inprocess import InProcessPool
from pyevm_jit.runtime.workers.processes import STARTUP_TIMEOUT, ProcessPool
from pyevm_jit.runtime.workers.tasks import (
    BUDGET,
    COMPILE,
    HEAVY_COST,
    TRANSIENT,
    CompileFailure,
    Compiler,
    CompilerPool,
    CompileTask,
    default_compiler,
    register_warm_up,
)

__all__ = [
    "BUDGET",
    "COMPILE",
    "HEAVY_COST",
    "STARTUP_TIMEOUT",
    "TRANSIENT",
    "CompileFailure",
    "CompileTask",
    "Compiler",
    "CompilerPool",
    "InProcessPool",
    "ProcessPool",
    "default_compiler",
    "make_pool",
    "register_warm_up",
]


def make_pool(
    compiler: Compiler,
    workers: int,
    *,
    timeout: float,
    recycle_after: int,
    name: str,
) -> CompilerPool:
    if workers <= 0:
        return InProcessPool(compiler, name=name + "-compile")
    return ProcessPool(
        compiler, workers, timeout=timeout, recycle_after=recycle_after, name=name + "-workers"
    )
