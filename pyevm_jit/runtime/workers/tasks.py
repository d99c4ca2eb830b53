"""The compile workers' vocabulary: the task, the failure kinds, the compiler and its warm-up,
the pool protocol.

What a failure means (`CompileFailure.kind`):
- "compile": the compiler raised, or the worker died twice running the same job (a crash the
  compilation itself causes). The runtime remembers the key as JitFailed.
- "budget": the compilation used up its CPU budget (`CompileTask.cpu_budget`, enforced by the
  kernel with RLIMIT_CPU inside the worker) or ran past the wall-clock timeout. The runtime
  counts the key Ineligible.
- "transient": nothing is known to be wrong with the contract: a worker could not be started,
  or the pool is shutting down. The runtime forgets the attempt; a later miss may try again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

#: estimated seconds above which a first compilation is a heavy job (see `workers.processes`)
HEAVY_COST = 0.5


@dataclass(frozen=True)
class CompileTask:
    """Everything a worker needs to compile one contract (picklable)."""

    code: bytes
    fork: str
    opt_level: int
    code_hash: bytes
    keep_text: bool = False
    #: a tier-up recompilation: runs after every waiting first compilation, and never makes
    #: one wait for a free worker (see ProcessPool)
    background: bool = False
    #: estimated CPU seconds (orders the queue; 0: unknown, treated as cheap)
    cost: float = 0.0
    #: CPU seconds the worker may spend on this task before the kernel stops it (0: no limit)
    cpu_budget: float = 0.0
    #: the blocks to compile (start pcs; None: the whole contract), see compiler/regions.py
    region: frozenset[int] | None = None

    @property
    def heavy(self) -> bool:
        return self.background or self.cost > HEAVY_COST


Compiler = Callable[[CompileTask], "ObjectCode"]

COMPILE, BUDGET, TRANSIENT = "compile", "budget", "transient"


class CompileFailure(Exception):
    """A job failed. `kind`: "compile" (the compilation failed: the key is JitFailed),
    "budget" (over its CPU budget or timeout: the key is Ineligible) or "transient" (a worker
    could not be started, the pool shut down: nothing is remembered about the key)."""

    def __init__(self, message: str, kind: str = COMPILE) -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def transient(self) -> bool:
        return self.kind == TRANSIENT


def default_compiler(task: CompileTask) -> ObjectCode:
    """The real compiler: `pyevm_jit.compiler.compile.compile_object`."""
    from pyevm_jit.compiler.compile import compile_object

    return compile_object(
        task.code,
        task.fork,
        task.opt_level,
        code_hash=task.code_hash,
        keep_text=task.keep_text,
        region=task.region,
    )


def _warm_up_default_compiler() -> None:
    """Import the compiler and start it (LLVM, the target machines of the first tier and the
    tier-up, one tiny compilation at each) before a worker reports ready, so that none of it
    counts against the first job's timeout, budget or compile time."""
    from pyevm_jit.compiler.compile import start
    from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, TIER_UP_OPT_LEVEL

    start((DEFAULT_OPT_LEVEL, TIER_UP_OPT_LEVEL))


#: compiler -> what a worker runs once before it reports ready
WARM_UP: dict[Any, Callable[[], None]] = {default_compiler: _warm_up_default_compiler}


def register_warm_up(compiler: Compiler, warm_up: Callable[[], None]) -> None:
    """Run `warm_up` in each worker of `compiler` before it reports ready (register it at the
    import of the compiler's module, so that workers register it too)."""
    WARM_UP[compiler] = warm_up


class CompilerPool(Protocol):
    def submit(self, task: CompileTask) -> Future[ObjectCode]: ...

    def shutdown(self, timeout: float) -> None: ...

    @property
    def crashes(self) -> int: ...

    @property
    def timeouts(self) -> int: ...


def describe(exc: BaseException) -> str:
    """One line naming an exception (its type and the first line of its message)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def shut_down() -> CompileFailure:
    """The failure of a job that a pool shut down before it ran."""
    return CompileFailure("compiler pool is shut down", TRANSIENT)
