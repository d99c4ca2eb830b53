"""The case runner's worker processes (`cli.caserun`): what a worker receives (`RunSpec`: the
`CaseKind` and the mode), how it runs cases (one backend per process), and the pool of
`--jobs N` that feeds them batches.

Memory: a worker keeps every contract it compiled (and the LLVM engine state around it) for
the cases still to come, so a long run grows its workers (3.5-3.9 GB each over the full
GeneralStateTests in jit mode). A worker whose resident memory passes `RunSpec.rss_limit` after
a case retires: it sends its statistics and exits, and a fresh worker runs the rest of its
batch. Every case runs once, in one process, whatever the bound; only compilations are
repeated (in the fresh process). The bound is `--worker-rss-limit MB` of the case commands,
else `PYEVM_JIT_CASE_WORKER_RSS_MB`, else `DEFAULT_RSS_LIMIT_MB` (0: no bound). It holds for
worker processes (`--jobs N` with N > 1, `--cluster`), not for cases run in the command's own
process (`--jobs 1`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Generic, TypeVar

from pyevm_jit.conformance.results import CaseResultBase, NamedCase
from pyevm_jit.errors import UsageError
from pyevm_jit.evm.chain import JitVMCache
from pyevm_jit.forks import VMFactory
from pyevm_jit.runtime import FileArtifactStore, JitBackend, RuntimeConfig, children

#: tests: a worker process exits abruptly when it reaches the case with this id
CRASH_ON_ENV = "PYEVM_JIT_TEST_CRASH_ON"


#: the bound on a case worker's resident memory unless set otherwise (MiB)
DEFAULT_RSS_LIMIT_MB = 1536
RSS_LIMIT_ENV = "PYEVM_JIT_CASE_WORKER_RSS_MB"


def rss_limit(megabytes: int | None = None, environ: Mapping[str, str] | None = None) -> int:
    """The worker memory bound in bytes: `megabytes` when given, else the environment's, else
    the default (0: no bound). UsageError when the value is no whole number of MiB >= 0."""
    source = "--worker-rss-limit"
    if megabytes is None:
        source = RSS_LIMIT_ENV
        text = (os.environ if environ is None else environ).get(RSS_LIMIT_ENV, "").strip()
        try:
            megabytes = int(text) if text else DEFAULT_RSS_LIMIT_MB
        except ValueError:
            raise UsageError(f"{source}: expected a whole number of MiB, got {text!r}") from None
    if megabytes < 0:
        raise UsageError(f"{source}: must not be negative, got {megabytes}")
    return megabytes << 20


def resident_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm), elsewhere its peak
    (getrusage); 0 when unknown."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return 0
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


#: native statistics of each process that ran cases, by process id
StatsByProcess = dict[int, dict[str, Any]]

#: the statistics of a backend that `stats_dict` keeps (summed over processes when merged)
_COUNTERS = (
    "compilations_dispatched",
    "compilations_succeeded",
    "compilations_failed",
    "resident_entries",
    "side_exits",
)

C = TypeVar("C", bound=NamedCase)
R = TypeVar("R", bound=CaseResultBase[Any])


@dataclass(frozen=True)
class CaseKind(Generic[C, R]):
    """One kind of case. Worker processes receive it pickled: module-level functions only."""

    name: str  # the command, e.g. "statetest" (progress label)
    run_case: Callable[[C, VMFactory | None], R]
    #: the result of a case whose worker process died while running it (reason given)
    died: Callable[[C, str], R]
    #: every (code hash, py-evm fork) -> code the cases start with (the AOT set)
    contract_codes: Callable[[Sequence[C]], Mapping[tuple[bytes, str], bytes]]
    #: called once in each process that runs cases, before the first
    process_setup: Callable[[], None] | None = None


@dataclass
class RunSpec(Generic[C, R]):
    kind: CaseKind[C, R]
    mode: str
    store_dir: str | None = None
    crash_on: str | None = None  # fault injection for tests (parallel runs only)
    #: bytes of resident memory past which a worker process retires after its case (0: never)
    rss_limit: int = 0


def make_backend(mode: str, store_dir: str | None) -> JitBackend:
    """The backend a process runs cases with in jit or aot mode."""
    if mode == "jit":
        # no store: a conformance run tests the compiler (every code compiled here), and its
        # thousands of test contracts have no place in the user's persistent cache
        return JitBackend.new(RuntimeConfig(enabled=True, blocking=True, store=None))
    assert store_dir is not None
    # aot runs only what the store holds: no promotion, so a run compiles nothing. Each
    # artifact is loaded on its key's first lookup, not all up front (preloading 10,000 of them
    # took a minute in every worker, most of them for other workers' cases)
    return JitBackend.new(
        RuntimeConfig(
            enabled=True,
            blocking=False,
            promote_hot=False,
            preload=False,
            store=FileArtifactStore(Path(store_dir)),
        )
    )


def stats_dict(backend: JitBackend | None) -> dict[str, Any] | None:
    """A backend's statistics as plain numbers (None without a backend)."""
    if backend is None:
        return None
    snapshot = backend.stats()
    stats: dict[str, Any] = {
        "lookup_hits": snapshot.lookup_hits,
        "lookup_misses": snapshot.lookup_misses,
        "misses_by_reason": dict(snapshot.misses_by_reason),
    }
    for name in _COUNTERS:
        stats[name] = int(getattr(snapshot, name))
    return stats


class _Process:
    """This process's VM factory and backend (one per process that runs cases)."""

    factory: VMFactory | None = None
    backend: JitBackend | None = None


def setup_process(spec: RunSpec[Any, Any]) -> tuple[VMFactory | None, JitBackend | None]:
    """Make this process ready to run the cases of `spec`: its VM factory and backend."""
    if spec.kind.process_setup is not None:
        spec.kind.process_setup()
    if spec.mode == "interp":
        _Process.factory, _Process.backend = None, None
    else:
        _Process.backend = make_backend(spec.mode, spec.store_dir)
        _Process.factory = JitVMCache(_Process.backend)
    return _Process.factory, _Process.backend


def close_process() -> None:
    backend, _Process.backend, _Process.factory = _Process.backend, None, None
    if backend is not None:
        backend.close()


def worker_main(reader: Connection, writer: Connection) -> None:
    """A worker process (`pyevm_jit.cli.caseworker`): receives its `RunSpec`, then batches;
    sends each case's result as soon as it has it (so a crash is pinned on the case that caused
    it), then its backend statistics. Started by `runtime.children`: Ctrl-C is the main
    process's business, and the worker ends when the main process has gone."""
    try:
        spec: RunSpec[Any, Any] = reader.recv()
    except (EOFError, OSError):
        return
    setup_process(spec)
    try:
        while True:
            batch = reader.recv()
            if batch is None:
                break
            for case in batch:
                if case.id == spec.crash_on:
                    os._exit(70)
                writer.send(("result", spec.kind.run_case(case, _Process.factory)))
                if spec.rss_limit and resident_bytes() > spec.rss_limit:
                    writer.send(("retire", stats_dict(_Process.backend)))
                    return  # over its memory bound: a fresh worker takes the rest
            writer.send(("done", stats_dict(_Process.backend)))
    except (EOFError, OSError, KeyboardInterrupt):
        pass  # the main process has gone (interrupted): nobody wants the results
    finally:
        close_process()


class WorkerProcess(Generic[C]):
    """A worker process and its two pipe ends."""

    def __init__(self, spec: RunSpec[C, Any]) -> None:
        self.process, self.conn_out, self.conn = children.start_connected(
            "pyevm_jit.cli.caseworker"
        )
        self.remaining: list[C] = []
        try:
            self.conn_out.send(spec)
        except OSError:
            pass  # it died at once: its pipe says so (EOF)

    @property
    def pid(self) -> int:
        return self.process.pid

    def give(self, batch: list[C]) -> None:
        self.remaining = list(batch)
        try:
            self.conn_out.send(batch)
        except OSError:
            pass  # it died: its pipe says so (EOF)

    def stop(self) -> None:
        try:
            self.conn_out.send(None)
        except OSError:
            pass

    def receive(self) -> tuple[str, Any]:
        """("result", R) per case, ("done", statistics) per batch, ("retire", statistics) when
        it ends after a case (over its memory bound: `remaining` is not run), ("died", None)
        once the process is gone (its pipe closed, nothing left in it)."""
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError):
            return "died", None
        return kind, payload

    def exit_code(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.exit_code(5)
        for conn in (self.conn_out, self.conn):
            with contextlib.suppress(OSError):
                conn.close()


def execute_parallel(
    batches: list[list[C]], spec: RunSpec[C, R], jobs: int, stats: StatsByProcess
) -> Iterator[tuple[list[R], StatsByProcess]]:
    """Worker processes fed one batch at a time. A worker that dies fails the case it was
    running (`spec.kind.died`); the rest of its batch goes to a fresh worker, as does the rest
    of the batch of a worker that retires (over `spec.rss_limit`)."""
    pending: deque[list[C]] = deque(batches)
    workers: list[WorkerProcess[C]] = []

    def end(worker: WorkerProcess[C], rest: list[C]) -> None:
        """`worker` has ended (or is ending): `rest` goes first, to a fresh worker."""
        worker.kill()
        workers.remove(worker)
        if rest:
            pending.appendleft(rest)
        if pending:
            workers.append(WorkerProcess(spec))
            workers[-1].give(pending.popleft())

    try:
        for _ in range(min(jobs, len(pending))):
            worker = WorkerProcess(spec)
            worker.give(pending.popleft())
            workers.append(worker)
        while workers:
            ready = set(wait([w.conn for w in workers]))
            for worker in list(workers):
                if worker.conn not in ready:
                    continue
                kind, payload = worker.receive()
                if kind == "result":
                    worker.remaining.pop(0)
                    yield [payload], stats
                    continue
                if kind in ("done", "retire"):
                    if payload is not None:
                        stats[worker.pid] = payload
                    if kind == "done" and pending:
                        worker.give(pending.popleft())
                        continue
                    if kind == "done":
                        worker.stop()
                    worker.exit_code(30)  # retired (over its memory bound) or stopped: it ends
                    end(worker, worker.remaining)
                    continue
                # The process is gone (its pipe closed, nothing left in it).
                code = worker.exit_code(5)
                if worker.remaining:
                    reason = f"worker process died (exit code {code}) running this case"
                    yield [spec.kind.died(worker.remaining[0], reason)], stats
                end(worker, worker.remaining[1:])
    finally:
        for worker in workers:
            worker.kill()
