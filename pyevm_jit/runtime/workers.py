"""Compiler pools: where bytecode becomes object code.

llvmlite serialises LLVM calls inside one process, so parallel compilation uses worker
processes: fresh interpreters started with subprocess (never forked: the parent has threads and
LLVM state; and not multiprocessing's spawn, which re-imports the parent's `__main__`). Each
worker runs one job at a time, so a failure is attributed exactly. Workers return `ObjectCode`;
linking happens in the parent (`compiler.link.link_object`).

What a failure means (`CompileFailure.kind`):
- "compile": the compiler raised, or the worker died twice running the same job (a crash the
  compilation itself causes). The runtime remembers the key as JitFailed.
- "budget": the compilation used up its CPU budget (`CompileTask.cpu_budget`, enforced by the
  kernel with RLIMIT_CPU inside the worker) or ran past the wall-clock timeout. The runtime
  counts the key Ineligible.
- "transient": nothing is known to be wrong with the contract: a worker could not be started,
  or the pool is shutting down. The runtime forgets the attempt; a later miss may try again.
A worker that dies (the OOM killer, `kill -9`) is replaced; a job it was running is retried
once on a fresh worker. An idle worker's death is noticed when it happens, never by the next
job sent to it.

Scheduling: waiting first compilations run before tier-ups, cheapest estimated cost first
(`CompileTask.cost`, see `runtime.budget`). Heavy jobs (tier-ups and first compilations
estimated over `HEAVY_COST` seconds) occupy at most `workers` processes; a light job that finds
them all busy with heavy ones gets one extra worker, so a flood of expensive contracts never
starves cheap ones.

`worker_count == 0` selects `InProcessPool`, which compiles on one helper thread of this
process (no timeout, no budget, no crash isolation: for debugging and for tests of the
runtime logic).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyevm_jit.compiler.compile import ObjectCode

log = logging.getLogger(__name__)

#: estimated seconds above which a first compilation is a heavy job (see the module doc)
HEAVY_COST = 0.5
#: seconds a worker may take to start (import the compiler, initialise LLVM) before it is killed
#: and its job failed as transient; only when the pool has a timeout
STARTUP_TIMEOUT = 120.0


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
        task.code, task.fork, task.opt_level, code_hash=task.code_hash, keep_text=task.keep_text
    )


def _warm_up_default_compiler() -> None:
    """Import the compiler and start it (LLVM, the target machines of the first tier and the
    tier-up, one tiny compilation at each) before a worker reports ready, so that none of it
    counts against the first job's timeout, budget or compile time."""
    from pyevm_jit.compiler.compile import start
    from pyevm_jit.compiler.target import DEFAULT_OPT_LEVEL, TIER_UP_OPT_LEVEL

    start((DEFAULT_OPT_LEVEL, TIER_UP_OPT_LEVEL))


#: compiler -> what a worker runs once before it reports ready
_WARM_UP: dict[Any, Callable[[], None]] = {default_compiler: _warm_up_default_compiler}


def register_warm_up(compiler: Compiler, warm_up: Callable[[], None]) -> None:
    """Run `warm_up` in each worker of `compiler` before it reports ready (register it at the
    import of the compiler's module, so that workers register it too)."""
    _WARM_UP[compiler] = warm_up


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


def _shut_down() -> CompileFailure:
    return CompileFailure("compiler pool is shut down", TRANSIENT)


class _Queue:
    """Waiting jobs: first compilations before tier-ups, retries first, then cheapest first
    (ties in submission order)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, float, int, CompileTask, Future[ObjectCode]]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, task: CompileTask, fut: Future[ObjectCode], *, retry: bool = False) -> None:
        item = (int(task.background), 0 if retry else 1, task.cost, next(self._seq), task, fut)
        heapq.heappush(self._heap, item)

    def first(self, *, light_only: bool = False) -> CompileTask | None:
        """The next job (the next light one with `light_only`), left in the queue."""
        if not light_only:
            return self._heap[0][4] if self._heap else None
        lights = [item for item in self._heap if not item[4].heavy]
        return min(lights)[4] if lights else None

    def take(self, task: CompileTask) -> tuple[CompileTask, Future[ObjectCode]]:
        """Remove the job of `task` (as returned by `first`)."""
        if self._heap[0][4] is task:
            item = heapq.heappop(self._heap)
        else:
            index = next(i for i, item in enumerate(self._heap) if item[4] is task)
            item = self._heap.pop(index)
            heapq.heapify(self._heap)
        return item[4], item[5]

    def pop(self) -> tuple[CompileTask, Future[ObjectCode]]:
        item = heapq.heappop(self._heap)
        return item[4], item[5]

    def drain(self) -> list[tuple[CompileTask, Future[ObjectCode]]]:
        items = [(item[4], item[5]) for item in sorted(self._heap)]
        self._heap.clear()
        return items


class InProcessPool:
    """Compiles on one daemon thread of this process."""

    def __init__(self, compiler: Compiler, name: str = "pyevm-jit-compile") -> None:
        self._compiler = compiler
        self._jobs = _Queue()
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
                fut.set_exception(_shut_down())
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
                fut.set_exception(CompileFailure(_describe(exc)))
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
                fut.set_exception(_shut_down())
        self._thread.join(timeout)


# --- worker processes ---------------------------------------------------------------------------


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
            reply: tuple[str, Any] = ("err", _describe(exc))
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
                conn.send(("err", f"result not transferable: {_describe(exc)}"))
            except OSError:
                return


def worker_entry(argv: list[str]) -> int:
    """`python -m pyevm_jit.runtime.worker_process IN_FD OUT_FD`: the worker process.

    The first message is the compiler (pickled by reference); the worker warms it up and
    answers ("ready", pid), then compiles tasks until None or EOF. Workers are started with
    `subprocess` rather than multiprocessing's spawn so that the parent's `__main__` is never
    re-imported in the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # over budget: no core file
    except (ImportError, ValueError, OSError):
        pass
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
        warm_up = _WARM_UP.get(compiler)
        if warm_up is not None:
            warm_up()
        writer.send(("ready", os.getpid()))
    except (EOFError, OSError):
        return 0
    _worker_main(_Duplex(), compiler)
    return 0


#: runs a module as `__main__` without the working directory on `sys.path` (Python 3.10, which
#: has no `-P`): `python -c BOOTSTRAP MODULE ARGS...`
_SAFE_PATH_BOOTSTRAP = (
    "import runpy, sys; del sys.path[0]; "
    "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)"
)


def python_module_command(module: str, *args: str, safe_path_flag: bool | None = None) -> list[str]:
    """The command that runs `python -m module args...` in a child process without putting the
    working directory on its `sys.path` (a `pyevm_jit` folder there must not replace the
    package): `-P` on Python 3.11+, a bootstrap that drops `sys.path[0]` before importing on
    3.10 (`safe_path_flag` chooses one; default: the running version's)."""
    if safe_path_flag is None:
        safe_path_flag = sys.version_info >= (3, 11)
    if safe_path_flag:
        return [sys.executable, "-P", "-m", module, *args]
    return [sys.executable, "-c", _SAFE_PATH_BOOTSTRAP, module, *args]


def child_environment() -> dict[str, str]:
    """The environment of a child Python process: this one's, with `PYTHONPATH` set to this
    process's `sys.path`, led by the folder this `pyevm_jit` package was imported from (so the
    child imports the same package; a worktree run with `PYTHONPATH=...` keeps working)."""
    # this file is pyevm_jit/runtime/workers.py: the folder above pyevm_jit
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [root, *(p for p in sys.path if p and os.path.abspath(p) != root)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class _Proc:
    """A worker process started with subprocess, plus its two pipe ends."""

    def __init__(self, compiler: Compiler) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        try:
            self.popen = subprocess.Popen(
                python_module_command(
                    "pyevm_jit.runtime.worker_process", str(to_child_r), str(from_child_w)
                ),
                pass_fds=(to_child_r, from_child_w),
                stdin=subprocess.DEVNULL,
                stdout=sys.__stderr__.fileno() if sys.__stderr__ is not None else None,
                env=child_environment(),
                close_fds=True,
                # its own session: a Ctrl-C at the terminal is the parent's business (the
                # parent's death ends the worker through its watchdog)
                start_new_session=True,
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.writer = multiprocessing.connection.Connection(to_child_w, readable=False)
        self.reader = multiprocessing.connection.Connection(from_child_r, writable=False)
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


class ProcessPool:
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
        self._lock = threading.Lock()
        self._queue = _Queue()
        #: jobs whose worker died while running them: the deaths so far, by future
        self._attempts: dict[Future[ObjectCode], _Attempt] = {}
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
        """Worker processes that died (idle or busy) without being asked to."""
        return self._crashes

    @property
    def timeouts(self) -> int:
        """Jobs stopped for running past their CPU budget or the wall-clock timeout."""
        return self._timeouts

    def submit(self, task: CompileTask) -> Future[ObjectCode]:
        fut: Future[ObjectCode] = Future()
        with self._lock:
            if self._closed:
                fut.set_exception(_shut_down())
                return fut
            self._queue.push(task, fut)
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
                self._fail(
                    job[1], CompileFailure(f"unreadable reply from worker: {_describe(exc)}")
                )
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
            elif w.deadline and now >= w.deadline and w.job is not None and not w.ready:
                # not the contract's fault: the worker never got as far as compiling it
                _task, fut = w.job
                w.job = None
                log.warning(
                    "pyevm-jit: compile worker not ready after %.0fs; killed", self._startup_timeout
                )
                self._retire(w, kill=True)
                self._fail(
                    fut,
                    CompileFailure(
                        f"compile worker not ready after {self._startup_timeout:g}s", TRANSIENT
                    ),
                )
            elif w.deadline and now >= w.deadline and w.job is not None:
                self._timeouts += 1
                _task, fut = w.job
                w.job = None
                log.warning(
                    "pyevm-jit: compilation timed out after %.1fs; worker killed", self._timeout
                )
                self._retire(w, kill=True)
                self._fail(
                    fut, CompileFailure(f"compilation timed out after {self._timeout:g}s", BUDGET)
                )
        return True

    def shutdown(self, timeout: float) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = self._queue.drain()
        self._wake()
        self._thread.join(timeout)
        for _task, fut in pending:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(_shut_down())
            elif not fut.done():  # a retry waiting in the queue was already running
                fut.set_exception(_shut_down())
        self._attempts.clear()
        deadline = time.monotonic() + timeout
        for w in list(self._workers):
            if w.job is not None:
                _t, fut = w.job
                w.job = None
                if not fut.done():
                    fut.set_exception(_shut_down())
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
