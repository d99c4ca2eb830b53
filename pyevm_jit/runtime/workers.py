"""Compiler pools: where bytecode becomes object code.

llvmlite serialises LLVM calls inside one process, so parallel compilation uses worker
processes: fresh interpreters started with subprocess (never forked: the parent has threads and
LLVM state; and not multiprocessing's spawn, which re-imports the parent's `__main__`). Each
worker runs one job at a time, so a crash or a timeout is attributed exactly: that job
fails, the worker is replaced, and every other job carries on. Workers return `ObjectCode`;
linking happens in the parent (`compiler.link.link_object`).

`worker_count == 0` selects `InProcessPool`, which compiles on one helper thread of this
process (no timeout, no crash isolation: for debugging and for tests of the runtime logic).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

log = logging.getLogger(__name__)


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


Compiler = Callable[[CompileTask], "ObjectCode"]


class CompileFailure(Exception):
    """A job failed: the compiler raised, its worker died or it ran out of time."""


def default_compiler(task: CompileTask) -> ObjectCode:
    """The real compiler: `pyevm_jit.compiler.compile.compile_object`."""
    from pyevm_jit.compiler.compile import compile_object

    return compile_object(
        task.code, task.fork, task.opt_level, code_hash=task.code_hash, keep_text=task.keep_text
    )


class CompilerPool(Protocol):
    def submit(self, task: CompileTask) -> Future[ObjectCode]: ...

    def shutdown(self, timeout: float) -> None: ...

    @property
    def crashes(self) -> int: ...

    @property
    def timeouts(self) -> int: ...


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class InProcessPool:
    """Compiles on one daemon thread of this process."""

    def __init__(self, compiler: Compiler, name: str = "pyevm-jit-compile") -> None:
        self._compiler = compiler
        self._jobs: deque[tuple[CompileTask, Future[ObjectCode]] | None] = deque()
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
                fut.set_exception(CompileFailure("compiler pool is shut down"))
                return fut
            if task.background:
                self._jobs.append((task, fut))
            else:
                self._insert_before_background((task, fut))
            self._cv.notify()
        return fut

    def _insert_before_background(self, item: tuple[CompileTask, Future[ObjectCode]]) -> None:
        jobs = self._jobs
        for index, queued in enumerate(jobs):
            if queued is not None and queued[0].background:
                jobs.insert(index, item)
                return
        jobs.append(item)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._jobs:
                    self._cv.wait()
                item = self._jobs.popleft()
            if item is None:
                return
            task, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = self._compiler(task)
            except BaseException as exc:  # noqa: BLE001 - every failure means "interpret"
                fut.set_exception(CompileFailure(_describe(exc)))
            else:
                fut.set_result(result)
                del result
            # drop references now: the finished job must not be kept alive by this frame
            del item, task, fut

    def shutdown(self, timeout: float) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            pending = [item for item in self._jobs if item is not None]
            self._jobs.clear()
            self._jobs.append(None)
            self._cv.notify()
        for _task, fut in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(CompileFailure("compiler pool is shut down"))
        self._thread.join(timeout)


# --- worker processes ---------------------------------------------------------------------------


def _worker_main(conn: multiprocessing.connection.Connection, compiler: Compiler) -> None:
    """Loop of one worker process: receive a task, send ("ok", ObjectCode) or ("err", text)."""
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        try:
            result = compiler(task)
        except BaseException as exc:  # noqa: BLE001
            reply: tuple[str, Any] = ("err", _describe(exc))
        else:
            reply = ("ok", result)
        try:
            conn.send(reply)
        except Exception as exc:  # unpicklable result
            conn.send(("err", f"result not transferable: {_describe(exc)}"))


def worker_entry(argv: list[str]) -> int:
    """`python -m pyevm_jit.runtime.worker_process IN_FD OUT_FD`: the worker process.

    The first message is the compiler (pickled by reference), then tasks until None or EOF.
    Workers are started with `subprocess` rather than multiprocessing's spawn so that the
    parent's `__main__` is never re-imported in the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    parent = os.getppid()

    def watchdog() -> None:  # never outlive the parent, even one killed with SIGKILL
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watchdog, name="pyevm-jit-watchdog", daemon=True).start()
    in_fd, out_fd = int(argv[0]), int(argv[1])
    reader = multiprocessing.connection.Connection(in_fd, writable=False)
    writer = multiprocessing.connection.Connection(out_fd, readable=False)

    class _Duplex:
        def recv(self) -> Any:
            return reader.recv()

        def send(self, obj: Any) -> None:
            writer.send(obj)

    try:
        compiler = reader.recv()
    except (EOFError, OSError):
        return 0
    _worker_main(_Duplex(), compiler)  # type: ignore[arg-type]
    return 0


class _Proc:
    """A worker process started with subprocess, plus its two pipe ends."""

    def __init__(self, compiler: Compiler) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        try:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pyevm_jit.runtime.worker_process",
                    str(to_child_r),
                    str(from_child_w),
                ],
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=sys.__stderr__.fileno() if sys.__stderr__ is not None else None,
                env=env,
                close_fds=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.writer = multiprocessing.connection.Connection(to_child_w, readable=False)
        self.reader = multiprocessing.connection.Connection(from_child_r, writable=False)
        self.writer.send(compiler)

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
    __slots__ = ("process", "job", "deadline", "done")

    def __init__(self, process: _Proc) -> None:
        self.process = process
        self.job: tuple[CompileTask, Future[ObjectCode]] | None = None
        self.deadline = 0.0
        self.done = 0


class ProcessPool:
    """A fixed number of spawned worker processes, each running one job at a time."""

    def __init__(
        self,
        compiler: Compiler,
        workers: int,
        *,
        timeout: float = 0.0,
        recycle_after: int = 1000,
        name: str = "pyevm-jit-workers",
    ) -> None:
        self._compiler = compiler
        self._size = max(1, workers)
        self._timeout = timeout
        self._recycle_after = max(1, recycle_after)
        self._lock = threading.Lock()
        self._pending: deque[tuple[CompileTask, Future[ObjectCode]]] = deque()
        #: tier-up jobs: dispatched only when no first compilation waits
        self._background: deque[tuple[CompileTask, Future[ObjectCode]]] = deque()
        self._workers: list[_Worker] = []
        self._closed = False
        self._crashes = 0
        self._timeouts = 0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def crashes(self) -> int:
        return self._crashes

    @property
    def timeouts(self) -> int:
        return self._timeouts

    def submit(self, task: CompileTask) -> Future[ObjectCode]:
        fut: Future[ObjectCode] = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(CompileFailure("compiler pool is shut down"))
                return fut
            (self._background if task.background else self._pending).append((task, fut))
        self._wake()
        return fut

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

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self._closed or not (self._pending or self._background):
                    return
                idle = next((w for w in self._workers if w.job is None), None)
                if self._pending:
                    queue = self._pending
                    # a first compilation never waits behind tier-ups: one extra worker
                    limit = self._size + any(
                        w.job is not None and w.job[0].background for w in self._workers
                    )
                else:
                    queue, limit = self._background, self._size
                if idle is None and len(self._workers) >= limit:
                    return
                task, fut = queue.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                if idle is None:
                    idle = self._spawn()
                    self._workers.append(idle)
                idle.process.send(task)
            except Exception as exc:  # could not start a worker or send the task
                fut.set_exception(CompileFailure(f"cannot start compile worker: {exc}"))
                if idle is not None:
                    self._retire(idle, kill=True)
                continue
            idle.job = (task, fut)
            idle.deadline = time.monotonic() + self._timeout if self._timeout > 0 else 0.0

    def _finish(self, worker: _Worker) -> None:
        """A busy worker's connection or sentinel is ready: collect its reply or its death."""
        assert worker.job is not None
        _task, fut = worker.job
        try:
            status, payload = worker.process.recv()
        except (EOFError, OSError, ValueError):
            worker.process.join(0.5)
            code = worker.process.exitcode
            self._crashes += 1
            log.warning("pyevm-jit: compile worker died (exit code %s); job failed", code)
            worker.job = None
            self._retire(worker, kill=True)
            fut.set_exception(CompileFailure(f"compile worker died (exit code {code})"))
            return
        except Exception as exc:  # a reply this process cannot unpickle
            worker.job = None
            self._retire(worker, kill=True)
            fut.set_exception(CompileFailure(f"unreadable reply from worker: {_describe(exc)}"))
            return
        worker.job = None
        worker.done += 1
        if status == "ok":
            fut.set_result(payload)
        else:
            fut.set_exception(CompileFailure(str(payload)))
        if worker.done >= self._recycle_after or len(self._workers) > self._size:
            self._retire(worker, kill=False)  # recycled, or the extra worker's job is done

    def _run(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # noqa: BLE001 - the pool thread must survive anything
                log.exception("pyevm-jit: compiler pool error")
                time.sleep(0.01)

    def _step(self) -> bool:
        """One round: dispatch, wait for replies or deadlines, handle them. False when closed."""
        self._dispatch()
        with self._lock:
            if self._closed:
                return False
            busy = [w for w in self._workers if w.job is not None]
        now = time.monotonic()
        deadlines = [w.deadline for w in busy if w.deadline]
        wait_for = max(0.0, min(deadlines) - now) if deadlines else None
        handles: list[Any] = [self._wake_r]
        for w in busy:
            handles.append(w.process.reader)
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
        for w in busy:
            if w.process.reader in ready:
                self._finish(w)
            elif w.deadline and now >= w.deadline:
                self._timeouts += 1
                assert w.job is not None
                _task, fut = w.job
                w.job = None
                log.warning(
                    "pyevm-jit: compilation timed out after %.1fs; worker killed",
                    self._timeout,
                )
                self._retire(w, kill=True)
                fut.set_exception(CompileFailure(f"compilation timed out after {self._timeout:g}s"))
        return True

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = list(self._pending) + list(self._background)
            self._pending.clear()
            self._background.clear()
        self._wake()
        self._thread.join(timeout)
        for _task, fut in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(CompileFailure("compiler pool is shut down"))
        deadline = time.monotonic() + timeout
        for w in list(self._workers):
            if w.job is not None:
                _t, fut = w.job
                w.job = None
                if not fut.done():
                    fut.set_exception(CompileFailure("compiler pool is shut down"))
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
