"""`ProcessPool`: compile jobs run in worker processes, one job at a time each.

llvmlite serialises LLVM calls inside one process, so parallel compilation uses worker
processes (`workers.child`, started by `runtime.children`). Each worker runs one job at a time,
so a failure is attributed exactly. Workers return `ObjectCode`; linking happens in the parent
(`compiler.link.link_object`).

A worker that dies (the OOM killer, `kill -9`) is replaced; a job it was running is retried
once on a fresh worker. An idle worker's death is noticed when it happens, never by the next
job sent to it.

Scheduling: waiting first compilations run before tier-ups, cheapest estimated cost first
(`CompileTask.cost`, see `runtime.budget`). Heavy jobs (tier-ups and first compilations
estimated over `HEAVY_COST` seconds) occupy at most `workers` processes; a light job that finds
them all busy with heavy ones gets one extra worker, so a flood of expensive contracts never
starves cheap ones.
"""

from __future__ import annotations

import logging
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyevm_jit.runtime import children
from pyevm_jit.runtime.workers.queue import QueuedPool
from pyevm_jit.runtime.workers.tasks import (
    BUDGET,
    TRANSIENT,
    CompileFailure,
    Compiler,
    CompileTask,
    describe,
    shut_down,
)

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

log = logging.getLogger(__name__)

#: seconds a worker may take to start (import the compiler, initialise LLVM) before it is killed
#: and its job failed as transient; only when the pool has a timeout
STARTUP_TIMEOUT = 120.0


class _Proc:
    """A worker process (started by `runtime.children`), plus its two pipe ends."""

    def __init__(self, compiler: Compiler) -> None:
        self.popen, self.writer, self.reader = children.start_connected(
            "pyevm_jit.runtime.workers",
            stdout=sys.__stderr__.fileno() if sys.__stderr__ is not None else None,
        )
        try:
            self.writer.send(compiler)
        except OSError:
            self.kill()
            self.close()
            self.join(1.0)
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    def send(self, obj: Any) -> None:
        self.writer.send(obj)

    def recv(self) -> Any:
        return self.reader.recv()

    @property
    def exitcode(self) -> int | None:
        return self.popen.poll()

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()

    def join(self, timeout: float) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        for conn in (self.writer, self.reader):
            try:
                conn.close()
            except OSError:
                pass


class _Worker:
    __slots__ = ("process", "job", "deadline", "done", "ready", "dispatched_at", "started_at")

    def __init__(self, process: _Proc) -> None:
        self.process = process
        self.job: tuple[CompileTask, Future[ObjectCode]] | None = None
        #: when the running job times out (0: no timeout, or not started yet)
        self.deadline = 0.0
        self.done = 0
        #: the worker has warmed up and answered "ready"; before that its job's clock is off
        self.ready = False
        self.dispatched_at = 0.0
        self.started_at = time.monotonic()


@dataclass
class _Attempt:
    """Deaths of the workers that ran a job so far (a job is retried once)."""

    codes: list[int | None]


class ProcessPool(QueuedPool):
    """Worker processes, each running one job at a time (see the module doc)."""

    def __init__(
        self,
        compiler: Compiler,
        workers: int,
        *,
        timeout: float = 0.0,
        recycle_after: int = 1000,
        name: str = "pyevm-jit-workers",
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self._compiler = compiler
        self._size = max(1, workers)
        self._timeout = timeout
        self._startup_timeout = startup_timeout
        self._recycle_after = max(1, recycle_after)
        super().__init__()
        #: jobs whose worker died while running them: the deaths so far, by future
        self._attempts: dict[Future[ObjectCode], _Attempt] = {}
        self._workers: list[_Worker] = []
        self._crashes = 0
        self._timeouts = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def crashes(self) -> int:
        """Worker processes that died (idle or busy) without being asked to."""
        return self._crashes

    @property
    def timeouts(self) -> int:
        """Jobs stopped for running past their CPU budget or the wall-clock timeout."""
        return self._timeouts

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # pipe full (a wake-up is already pending) or closed

    def _spawn(self) -> _Worker:
        return _Worker(_Proc(self._compiler))

    def _retire(self, worker: _Worker, *, kill: bool) -> None:
        if worker in self._workers:
            self._workers.remove(worker)
        try:
            if kill:
                worker.process.kill()
            else:
                worker.process.send(None)
        except (OSError, ValueError):
            pass
        worker.process.close()
        worker.process.join(0.5 if kill else 0.0)
        if worker.process.is_alive() and kill:
            worker.process.join(1.0)

    def _can_start(self, task: CompileTask) -> tuple[bool, _Worker | None]:
        """Whether `task` may start now, and on which idle worker (None: a new one).
        Caller holds the lock."""
        idle = next((w for w in self._workers if w.job is None), None)
        heavy_busy = sum(1 for w in self._workers if w.job is not None and w.job[0].heavy)
        if task.heavy:
            if heavy_busy >= self._size:
                return False, None
            limit = self._size
        else:
            # a light job never waits behind heavy ones: one extra worker
            limit = self._size + (1 if heavy_busy else 0)
        if idle is not None:
            return True, idle
        return len(self._workers) < limit, None

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                first = self._queue.first()
                if first is None:
                    return
                ok, worker = self._can_start(first)
                if not ok and first.heavy:
                    # heavy jobs wait for a heavy slot; a light job behind them may still start
                    first = self._queue.first(light_only=True)
                    if first is not None:
                        ok, worker = self._can_start(first)
                if not ok or first is None:
                    return
                task, fut = self._queue.take(first)
            # a retried job's future is running already
            if not fut.running() and not fut.set_running_or_notify_cancel():
                self._attempts.pop(fut, None)
                continue
            self._start(task, fut, worker)

    def _start(self, task: CompileTask, fut: Future[ObjectCode], worker: _Worker | None) -> None:
        fresh = worker is None
        try:
            if worker is None:
                worker = self._spawn()
                self._workers.append(worker)
            worker.process.send(task)
        except OSError as exc:
            if worker is not None:
                self._retire(worker, kill=True)
            if not fresh:
                # the idle worker had died unnoticed: the job never started; go again
                self._crashes += 1
                with self._lock:
                    self._queue.push(task, fut, retry=True)
                self._wake()
                return
            self._fail(fut, CompileFailure(f"cannot start compile worker: {exc}", TRANSIENT))
            return
        worker.job = (task, fut)
        worker.dispatched_at = time.monotonic()
        worker.deadline = self._deadline(worker)

    def _deadline(self, worker: _Worker) -> float:
        """When the worker's job times out: `timeout` after the worker is ready (a worker still
        starting has `startup_timeout` from its start); 0: never."""
        if self._timeout <= 0 or worker.job is None:
            return 0.0
        if not worker.ready:
            return worker.started_at + self._startup_timeout
        return max(worker.dispatched_at, time.monotonic()) + self._timeout

    def _fail(self, fut: Future[ObjectCode], failure: CompileFailure) -> None:
        self._attempts.pop(fut, None)
        if not fut.done():
            fut.set_exception(failure)

    def _died(self, worker: _Worker) -> None:
        """A worker's pipe closed: it died. Replace it; retry its job once (see module doc)."""
        worker.process.join(0.5)
        code = worker.process.exitcode
        job, ready = worker.job, worker.ready
        worker.job = None
        self._retire(worker, kill=True)
        if job is None:
            self._crashes += 1
            log.info("pyevm-jit: idle compile worker died (exit code %s); replaced", code)
            return
        task, fut = job
        if code is not None and code == -getattr(signal, "SIGXCPU", -1):
            self._timeouts += 1
            self._fail(
                fut,
                CompileFailure(f"compilation over its CPU budget of {task.cpu_budget:g}s", BUDGET),
            )
            return
        self._crashes += 1
        if not ready:
            # it never got as far as compiling: a broken environment, not this contract
            log.warning("pyevm-jit: compile worker died starting up (exit code %s)", code)
            self._fail(
                fut, CompileFailure(f"compile worker failed to start (exit code {code})", TRANSIENT)
            )
            return
        attempt = self._attempts.setdefault(fut, _Attempt([]))
        attempt.codes.append(code)
        if len(attempt.codes) < 2:
            log.warning("pyevm-jit: compile worker died (exit code %s); job retried", code)
            with self._lock:
                self._queue.push(task, fut, retry=True)
            return
        codes = ", ".join(str(c) for c in attempt.codes)
        log.warning("pyevm-jit: compile worker died twice on one job (exit codes %s)", codes)
        self._fail(fut, CompileFailure(f"compile worker died twice (exit codes {codes})"))

    def _receive(self, worker: _Worker) -> None:
        """A worker's pipe is readable: its readiness, its reply, or its death."""
        try:
            status, payload = worker.process.recv()
        except (EOFError, OSError, ValueError):
            self._died(worker)
            return
        except Exception as exc:  # a reply this process cannot unpickle
            job = worker.job
            worker.job = None
            self._retire(worker, kill=True)
            if job is not None:
                self._fail(job[1], CompileFailure(f"unreadable reply from worker: {describe(exc)}"))
            return
        if status == "ready":
            worker.ready = True
            worker.deadline = self._deadline(worker)
            return
        if worker.job is None:  # nothing was asked: a confused worker
            self._retire(worker, kill=True)
            return
        _task, fut = worker.job
        worker.job = None
        worker.done += 1
        self._attempts.pop(fut, None)
        if status == "ok":
            fut.set_result(payload)
        else:
            fut.set_exception(CompileFailure(str(payload)))
        if worker.done >= self._recycle_after or len(self._workers) > self._size:
            self._retire(worker, kill=False)  # recycled, or an extra worker's job is done

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # noqa: BLE001 - the pool thread must survive anything
                log.exception("pyevm-jit: compiler pool error")
                time.sleep(0.01)

    def _step(self) -> bool:
        """One round: dispatch, wait for messages, deaths or deadlines, handle them. False when
        closed."""
        self._dispatch()
        with self._lock:
            if self._closed:
                return False
            workers = list(self._workers)
        now = time.monotonic()
        deadlines = [w.deadline for w in workers if w.deadline]
        wait_for = max(0.0, min(deadlines) - now) if deadlines else None
        handles: list[Any] = [self._wake_r]
        # every worker, idle ones too: an idle worker's death is seen when it happens
        handles.extend(w.process.reader for w in workers)
        try:
            ready = multiprocessing.connection.wait(handles, wait_for)
        except OSError:
            ready = []
        if self._wake_r in ready:
            try:
                os.read(self._wake_r, 4096)
            except OSError:
                pass
        now = time.monotonic()
        for w in workers:
            if w not in self._workers:
                continue
            if w.process.reader in ready:
                self._receive(w)
            elif w.deadline and now >= w.deadline and w.job is not None:
                self._expire(w)
        return True

    def _expire(self, worker: _Worker) -> None:
        """Kill a worker past its deadline and fail its job: as transient when it never got
        ready (not the contract's fault), else as over budget."""
        assert worker.job is not None
        _task, fut = worker.job
        worker.job = None
        if worker.ready:
            self._timeouts += 1
            failure = CompileFailure(f"compilation timed out after {self._timeout:g}s", BUDGET)
        else:
            limit = f"{self._startup_timeout:g}s"
            failure = CompileFailure(f"compile worker not ready after {limit}", TRANSIENT)
        log.warning("pyevm-jit: %s; worker killed", failure)
        self._retire(worker, kill=True)
        self._fail(fut, failure)

    def shutdown(self, timeout: float) -> None:
        pending = self._close()
        if pending is None:
            return
        self._thread.join(timeout)
        self._fail_pending(pending)
        self._attempts.clear()
        deadline = time.monotonic() + timeout
        for w in list(self._workers):
            if w.job is not None:
                _t, fut = w.job
                w.job = None
                if not fut.done():
                    fut.set_exception(shut_down())
                self._retire(w, kill=True)
            else:
                try:
                    w.process.send(None)
                except (OSError, ValueError):
                    pass
        for w in list(self._workers):
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.process.close()
        self._workers.clear()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
