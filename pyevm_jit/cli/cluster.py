"""`--cluster ADDRESS|local:N`: a command's work on a Dask cluster.

`local:N` starts a local Dask cluster of N worker processes (one thread each, on 127.0.0.1, no
dashboard, forked from a server process that has imported what they need once); anything else
is the address of a running Dask scheduler (`tcp://host:8786`). Needs the `[cluster]` extra
(`dask[distributed]`). A `Session` starts the cluster (and the case runners) in the background
while the command discovers its cases.

The cases of `statetest` and `blocktest` (`execute_on_cluster`): each Dask worker thread keeps
one warm case-runner process for the whole run (the `--jobs` worker process of
`cli.caserun`, started by a worker plugin, `CaseRunnerPlugin`, as soon as the worker joins):
one backend and one JIT VM class per VM class, in a process of its own, so that the cases do
not share an interpreter lock with the Dask worker's event loop. Every task hands a batch of
cases (grouped by file, like `--jobs`) to that process; results stream back as batches finish,
to the same progress display, failure lines and `--json` as a local run.

A case that kills its case-runner process (a crash in native code) takes no Dask worker down:
the worker reports the case and carries on with the rest of the batch in a fresh process. The
case is run once more, alone, preferably on another worker; a case that killed two processes
is reported as failed, naming the case. A Dask worker that dies loses no case either: the
scheduler runs its task again on another worker (the local cluster's scheduler allows one retry:
`distributed.scheduler.allowed-failures` 1; a remote scheduler applies its own setting), and a
batch that killed its workers is split into single cases. A cluster left without any worker for
`NO_WORKERS_TIMEOUT` seconds ends the run: the cases not run are reported as failed.

`map_on_cluster` is the plain form the other commands use (`fuzz`, `bench`): a function over
items, results as they finish.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, cast

from pyevm_jit.errors import UsageError


def _worker_plugin_base() -> Any:
    """distributed's WorkerPlugin, or `object` without the [cluster] extra (the commands then
    say so when --cluster is used). A function, so that mypy sees the same types with and
    without the extra installed."""
    try:
        import distributed
    except ImportError:  # pragma: no cover - depends on the installation
        return object
    return distributed.WorkerPlugin


_WorkerPlugin: Any = _worker_plugin_base()

LOCAL_PREFIX = "local:"
#: cases per task (results come back per task, and a task lost with a worker is run again)
BATCH_SIZE = 8
PLUGIN_NAME = "pyevm-jit-cases"
#: tests: a Dask worker process exits abruptly when it is given a batch with the case of this
#: id (a worker lost with its batch; `caserun.CRASH_ON_ENV` makes a case kill its case runner)
KILL_WORKER_ON_ENV = "PYEVM_JIT_TEST_KILL_WORKER_ON"
#: seconds a run waits while its cluster has no worker at all, then ends
NO_WORKERS_TIMEOUT = 120.0
#: how often the client looks for finished tasks and at its cluster's workers (seconds)
_POLL = 0.02
_WORKER_CHECK = 2.0

#: Dask settings of the runs: one retry of a task whose worker died (a case that kills its
#: process takes no Dask worker down, see the module doc: a death is the machine's or Dask's);
#: a worker holds the task it runs and the next one (Dask's default worker saturation, 1.1, for
#: one thread: no round trip to the scheduler between two tasks); and less of Dask's own
#: bookkeeping in the workers, which share the machine with the work (no statistical profiler
#: sampling the task thread every 10 ms; the event loop's blocking check and the memory and
#: system monitors less often)
DASK_SETTINGS: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 1,
    "distributed.scheduler.worker-saturation": 1.1,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


#: and for a local cluster: its worker processes are forked from one server process that has
#: imported, once, what they need (the `multiprocessing` "forkserver" method; with "spawn",
#: Dask's default, each worker process imports Python's libraries, py-evm among them, on its
#: own, and runs the command's script again before it can start)
LOCAL_SETTINGS: dict[str, Any] = {"distributed.worker.multiprocessing-method": "forkserver"}


def _preload_forkserver(distributed: Any) -> None:
    """The modules the local cluster's fork server imports before it forks any worker: the
    command's script and Dask (for the workers to start at once), and the case runner's
    module, which imports pyevm-jit and py-evm (the worker plugin and the tasks need them).
    Without effect once the fork server runs (a second cluster in one process)."""
    import multiprocessing

    from distributed.utils import get_mp_context

    get_mp_context()  # Dask sets its own preload list once: ours replaces it
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        ["__main__", "distributed", "pyevm_jit.cli.caserun"]
    )


def check_address(text: str) -> str:
    """`local:N` (N >= 1) or a scheduler address; UsageError otherwise."""
    text = text.strip()
    if text.startswith(LOCAL_PREFIX):
        count = text[len(LOCAL_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise UsageError(f"--cluster {text}: local:N needs a worker count N >= 1")
        return text
    if not text or any(c.isspace() for c in text):
        raise UsageError(f"--cluster {text!r}: not a scheduler address (e.g. tcp://host:8786)")
    return text


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--cluster needs Dask's distributed scheduler: pip install 'pyevm-jit[cluster]'"
        ) from None
    return distributed


@contextlib.contextmanager
def client_for(address: str) -> Iterator[Any]:
    """A Dask client of the cluster `address` (a local cluster is started and stopped)."""
    distributed = _distributed()
    import dask

    local = address.startswith(LOCAL_PREFIX)
    settings = {**DASK_SETTINGS, **(LOCAL_SETTINGS if local else {})}
    with dask.config.set(settings):
        if local:
            _preload_forkserver(distributed)
            workers = int(address[len(LOCAL_PREFIX) :])
            with distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.ERROR,
            ) as cluster:
                client = distributed.Client(cluster)
                try:
                    yield client
                finally:
                    client.close()
        else:
            try:
                client = distributed.Client(address, timeout=30)
            except OSError as exc:
                raise UsageError(
                    f"--cluster {address}: cannot reach the scheduler ({exc})"
                ) from None
            # not `with client`: that makes it the current client of the calling thread's
            # context only (a `Session` starts it in a thread of its own and ends it in
            # another); every call here names its client
            try:
                yield client
            finally:
                client.close()


def thread_count(client: Any) -> int:
    """The number of task threads of the client's cluster (at least 1)."""
    return max(1, sum(client.nthreads().values()))


class Watch:
    """The client's wait for finished tasks, ended when the cluster has had no worker for
    `NO_WORKERS_TIMEOUT` seconds (a local cluster whose workers could not be started again, a
    remote one that lost them all): then `next` gives None."""

    def __init__(self, client: Any, futures: Iterable[Any], done: Any = None) -> None:
        self.client = client
        if done is None:
            done = _distributed().as_completed(list(futures), loop=client.loop)
        self.done = done
        self.checked = self.seen = time.monotonic()

    def add(self, future: Any) -> None:
        self.done.add(future)

    def next(self) -> Any:
        """The next finished future; None when there is none left or the cluster is gone."""
        while not self.done.is_empty():
            if self.done.has_ready():
                return next(self.done)
            now = time.monotonic()
            if now - self.checked >= _WORKER_CHECK:
                self.checked = now
                with contextlib.suppress(Exception):
                    if self.client.nthreads():
                        self.seen = now
                if now - self.seen > NO_WORKERS_TIMEOUT:
                    return None
            time.sleep(_POLL)
        return None


def map_on_cluster(
    address: str, function: Callable[..., Any], items: Sequence[Any], *args: Any
) -> Iterator[tuple[int, Any]]:
    """`function(item, *args)` for each item on the cluster: (index, result) as they finish;
    a task that failed gives (index, the exception); a cluster left without workers ends it
    (the items not done are not given)."""
    with client_for(address) as client:
        futures = {
            client.submit(function, item, *args, pure=False): index
            for index, item in enumerate(items)
        }
        watch = Watch(client, futures)
        while (future := watch.next()) is not None:
            index = futures.pop(future)
            if future.status == "finished":
                yield index, future.result()
            else:
                yield (
                    index,
                    (future.exception() if future.status == "error" else None)
                    or (RuntimeError(f"the task was {future.status}")),
                )


# ---------------------------------------------------------------------------------------------
# The cases of statetest and blocktest
# ---------------------------------------------------------------------------------------------


class Runner(Protocol):
    """A case-runner process (`caseworkers.WorkerProcess`): fed a batch, it sends ("result",
    R) per case and ("done", statistics) per batch, or ("retire", statistics) after a case when
    it ends over its memory bound; EOF when it died."""

    remaining: list[Any]
    conn: Any

    @property
    def pid(self) -> int: ...

    def give(self, batch: list[Any]) -> None: ...

    def stop(self) -> None: ...

    def receive(self) -> tuple[str, Any]: ...

    def exit_code(self, timeout: float) -> int | None: ...

    def kill(self) -> None: ...


StartRunner = Callable[[Any], Runner]


class CaseRunnerPlugin(_WorkerPlugin):
    """The warm case-runner processes of a Dask worker: one started when the worker joins, one
    per task thread at most (idle ones are kept), all stopped at the end (module-level:
    workers import it by name)."""

    name = PLUGIN_NAME

    def __init__(self, spec: Any, start_runner: StartRunner) -> None:
        self.spec, self.start_runner = spec, start_runner

    def setup(self, worker: Any) -> None:
        self.lock = threading.Lock()  # made here: the plugin travels pickled
        # the first process at once: its start-up overlaps the other workers' and the client's
        self.idle: list[Runner] = [self.start_runner(self.spec)]

    def take(self) -> Runner:
        with self.lock:
            if self.idle:
                return self.idle.pop()
        return self.start_runner(self.spec)

    def keep(self, runner: Runner) -> None:
        with self.lock:
            self.idle.append(runner)

    def teardown(self, worker: Any) -> None:
        with self.lock:
            runners, self.idle = self.idle, []
        for runner in runners:
            runner.stop()
            if runner.exit_code(10) is None:
                runner.kill()


#: a task's answer: results, the cases that killed the runner process (with its exit code),
#: the worker's address, and the statistics of its runner process(es) by process id
TaskResult = tuple[list[Any], list[tuple[Any, "int | None"]], str, dict[int, dict[str, Any]]]


def run_task(batch: list[Any], plugin_name: str) -> TaskResult:
    """A task on a Dask worker: the batch in this worker's warm case-runner process (of the
    run's plugin). A case that kills that process is returned as such; the rest of the batch
    goes on in a fresh one, as does the rest of a batch whose runner retires."""
    import distributed

    worker = distributed.get_worker()
    plugin = cast(CaseRunnerPlugin, worker.plugins[plugin_name])
    if os.environ.get(KILL_WORKER_ON_ENV) in {case.id for case in batch}:
        os._exit(71)
    results: list[Any] = []
    killers: list[tuple[Any, int | None]] = []
    stats: dict[int, dict[str, Any]] = {}
    runner = plugin.take()
    pending = list(batch)
    try:
        while pending:
            runner.give(pending)
            pending = []
            while True:
                kind, payload = runner.receive()
                if kind == "result":
                    runner.remaining.pop(0)
                    results.append(payload)
                    continue
                if kind in ("done", "retire"):
                    if payload is not None:
                        stats[runner.pid] = payload
                    if kind == "retire":  # over its memory bound: a fresh one for the rest
                        pending = runner.remaining
                        runner.exit_code(30)
                        runner.kill()
                        runner = plugin.start_runner(plugin.spec)
                    break
                # the process died running remaining[0]: a fresh one for the rest
                killers.append((runner.remaining[0], runner.exit_code(5)))
                pending = runner.remaining[1:]
                runner.kill()
                runner = plugin.start_runner(plugin.spec)
                break
    except BaseException:
        runner.kill()
        raise
    plugin.keep(runner)
    return results, killers, str(worker.address), stats


class Session:
    """A cluster made ready in the background while the command discovers its cases: a local
    cluster's scheduler and workers started (a remote scheduler connected to) and, when the
    command knows its `RunSpec` already, the worker plugin registered, so that the workers'
    case-runner processes start too. `client()` waits for it; `close()` ends it."""

    def __init__(
        self, address: str, spec: Any = None, start_runner: StartRunner | None = None
    ) -> None:
        _distributed()  # without the extra: UsageError now, in the caller's thread
        self.address = address
        self.plugins: list[tuple[Any, str]] = []  # (spec, plugin name) registered
        self._stack = contextlib.ExitStack()
        self._client: Any = None
        self._error: BaseException | None = None
        self._early = (spec, start_runner) if spec is not None and start_runner else None
        self._thread = threading.Thread(target=self._start, name="pyevm-jit-cluster", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        try:
            self._client = self._stack.enter_context(client_for(self.address))
            if self._early is not None:
                self.plugin_for(*self._early)
        except BaseException as exc:  # given to the caller by client()
            self._error = exc

    def client(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._client

    def plugin_for(self, spec: Any, start_runner: StartRunner) -> str:
        """The name of a registered worker plugin with this spec (registered now if none)."""
        for known, name in self.plugins:
            if known == spec:
                return name
        name = f"{PLUGIN_NAME}-{uuid.uuid4().hex}"  # two runs may share a cluster
        self._client.register_plugin(CaseRunnerPlugin(spec, start_runner), name=name)
        self.plugins.append((spec, name))
        return name

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._thread.join()
        if self._client is not None and not self.address.startswith(LOCAL_PREFIX):
            for _, name in self.plugins:  # a local cluster's workers close with it
                with contextlib.suppress(Exception):
                    self._client.unregister_worker_plugin(name)  # stops the case runners
        self._stack.close()


def execute_on_cluster(
    batches: list[list[Any]],
    spec: Any,
    address: str,
    stats: dict[int, dict[str, Any]],
    *,
    start_runner: StartRunner,
    session: Session | None = None,
) -> Iterator[tuple[list[Any], dict[int, dict[str, Any]]]]:
    """Results of every case as batches finish on the cluster (see the module doc), on the
    cluster of `session` when given (its caller closes it)."""
    with contextlib.ExitStack() as stack:
        if session is None:
            session = stack.enter_context(Session(address))
        distributed = _distributed()
        client = session.client()
        plugin_name = session.plugin_for(spec, start_runner)
        futures = {
            client.submit(run_task, batch, plugin_name, pure=False): batch for batch in batches
        }
        watch = Watch(client, futures)
        deaths: dict[str, list[int | None]] = {}  # case id -> exit codes of the processes
        lost: set[int] = set()  # batches already submitted again (by id of the list)

        def again(batch: list[Any], avoid: str | None = None) -> None:
            others = [w for w in client.nthreads() if w != avoid] if avoid else []
            kwargs = {"workers": others, "allow_other_workers": True} if others else {}
            future = client.submit(run_task, batch, plugin_name, pure=False, **kwargs)
            futures[future] = batch
            watch.add(future)

        # the cases of batches that killed their workers, run alone one at a time: a Dask
        # worker's death counts against every task it held (the next one waits there too), so
        # two suspects in flight at once could both be blamed for one's deaths
        suspects: list[Any] = []
        suspect: list[Any] = []  # the one in flight

        def next_suspect() -> None:
            if not suspect and suspects:
                suspect.append(suspects.pop(0))
                again(suspect)

        while (future := watch.next()) is not None:
            batch = futures.pop(future)
            was_suspect = batch is suspect
            if was_suspect:
                suspect = []
            if future.status == "finished":
                results, killers, where, snapshots = future.result()
                for pid, snapshot in snapshots.items():
                    stats[hash((where, pid))] = snapshot
                for case, code in killers:
                    codes = deaths.setdefault(case.id, [])
                    codes.append(code)
                    if len(codes) < 2:
                        again([case], avoid=where)  # once more, alone, on another worker
                        continue
                    reason = (
                        "worker processes died running this case (exit codes "
                        f"{', '.join(str(c) for c in codes)}; each time in a fresh process)"
                    )
                    results.append(spec.kind.died(case, reason))
                next_suspect()
                yield results, stats
                continue
            exc = future.exception() if future.status == "error" else None
            if exc is None and id(batch) not in lost:
                lost.add(id(batch))  # lost or cancelled (not erred): once more
                again(batch)
                if was_suspect:
                    suspect = batch
                continue
            if isinstance(exc, distributed.KilledWorker) and len(batch) > 1:
                suspects.extend(batch)  # find the case that kills workers
                next_suspect()
                continue
            reason = (
                "Dask worker processes died running this case (each time it was retried)"
                if isinstance(exc, distributed.KilledWorker)
                else f"the task failed: {type(exc).__name__}: {exc}"
                if exc is not None
                else f"the task was {future.status} twice"
            )
            yield [spec.kind.died(case, reason) for case in batch], stats
            next_suspect()
        if futures:  # the cluster has had no worker for NO_WORKERS_TIMEOUT seconds
            reason = f"not run: the cluster had no worker for {NO_WORKERS_TIMEOUT:g} s"
            yield [spec.kind.died(case, reason) for b in futures.values() for case in b], stats
