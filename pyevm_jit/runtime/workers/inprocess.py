"""`InProcessPool`: compiles on one helper thread of this process (no timeout, no budget, no
crash isolation: for debugging and for tests of the runtime logic; `worker_count == 0`)."""

from __future__ import annotations

import threading

from pyevm_jit.runtime.workers.queue import QueuedPool
from pyevm_jit.runtime.workers.tasks import CompileFailure, Compiler, describe


class InProcessPool(QueuedPool):
    """Compiles on one daemon thread of this process."""

    def __init__(self, compiler: Compiler, name: str = "pyevm-jit-compile") -> None:
        super().__init__()
        self._compiler = compiler
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def crashes(self) -> int:
        return 0

    @property
    def timeouts(self) -> int:
        return 0

    def _wake(self) -> None:
        with self._lock:
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                task, fut = self._queue.pop()
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
        pending = self._close()
        if pending is None:
            return
        self._fail_pending(pending)
        self._thread.join(timeout)
