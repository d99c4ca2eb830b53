"""The compile worker process: `python -m pyevm_jit.runtime.workers IN_FD OUT_FD`, started by
`workers.processes` through `runtime.children` (which ignores Ctrl-C and ends the worker when
its parent has gone).

The first message is the compiler (pickled by reference); the worker warms it up and answers
("ready", pid), then compiles tasks until None or EOF: ("ok", ObjectCode) or ("err", text).
Each task runs under its CPU budget (RLIMIT_CPU: the kernel stops the worker with SIGXCPU).
"""

from __future__ import annotations

import math
from typing import Any

from pyevm_jit.runtime import children
from pyevm_jit.runtime.workers.tasks import WARM_UP, Compiler, describe


def _cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_cpu(budget: float) -> None:
    """Let the kernel stop this process (SIGXCPU) once it has spent `budget` more CPU seconds
    (0: no limit). RLIMIT_CPU counts whole seconds of the process's total CPU time."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if budget > 0:
        soft = math.ceil(_cpu_seconds() + budget)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
    else:
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _worker_main(conn: Any, compiler: Compiler) -> None:
    """Loop of one worker process: receive a task, send ("ok", ObjectCode) or ("err", text).
    Returns quietly when the parent has gone (its end of the pipe closed)."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        budget = getattr(task, "cpu_budget", 0.0)
        if budget:
            _limit_cpu(budget)
        try:
            result = compiler(task)
        except BaseException as exc:  # noqa: BLE001
            reply: tuple[str, Any] = ("err", describe(exc))
        else:
            reply = ("ok", result)
        finally:
            if budget:
                _limit_cpu(0.0)
        try:
            conn.send(reply)
        except OSError:  # the parent is gone (a broken pipe): nobody wants the result
            return
        except Exception as exc:  # an unpicklable result
            try:
                conn.send(("err", f"result not transferable: {describe(exc)}"))
            except OSError:
                return


def worker_entry(argv: list[str]) -> int:
    """The worker process (see the module doc)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # over budget: no core file
    except (ImportError, ValueError, OSError):
        pass
    import os

    reader, writer = children.connect(list(argv))

    class _Duplex:
        def recv(self) -> Any:
            return reader.recv()

        def send(self, obj: Any) -> None:
            writer.send(obj)

    try:
        compiler = reader.recv()
        warm_up = WARM_UP.get(compiler)
        if warm_up is not None:
            warm_up()
        writer.send(("ready", os.getpid()))
    except (EOFError, OSError):
        return 0
    _worker_main(_Duplex(), compiler)
    return 0
