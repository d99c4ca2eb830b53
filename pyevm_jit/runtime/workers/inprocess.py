"""`InProcessPool`: compiles on one helper thread of this process (no timeout, no budget, no
crash isolation: for debugging and for tests of the runtime logic; `worker_count == 0`)."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING

from pyevm_jit.runtime.workers.queue import TaskQueue
from pyevm_jit.runtime.workers.tasks import (
    CompileFailure,
    Compiler,
    CompileTask,
    describe,
    shut_down,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode


class InProcessPool:
    """Compiles on one daemon thread of this process."""

    def __init__(self, compiler: Compiler, name: str = "pyevm-jit-compile") -> None:
        self._compiler = compiler
        self._jobs = TaskQueue()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def crashes(self) -> int:
        return 0

    @property
    def timeouts(self) -> int:
        return 0

    def submit(self, task: CompileTask) -> Future[ObjectCode]:
        fut: Future[ObjectCode] = Future()
        with self._cv:
            if self._closed:
                fut.set_exception(shut_down())
                return fut
            self._jobs.push(task, fut)
            self._cv.notify()
        return fut

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                task, fut = self._jobs.pop()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = self._compiler(task)
            except BaseException as exc:  # noqa: BLE001 - every failure means "interpret"
                fut.set_exception(CompileFailure(describe(exc)))
            else:
                fut.set_result(result)
                del result
            # drop references now: the finished job must not be kept alive by this frame
            del task, fut

    def shutdown(self, timeout: float) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            pending = self._jobs.drain()
            self._cv.notify()
        for _task, fut in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(shut_down())
        self._thread.join(timeout)
