"""`--cluster ADDRESS|local:N`: the cases of `statetest` and `blocktest` on a Dask cluster.

`local:N` starts a local Dask cluster of N worker processes (one thread each, on 127.0.0.1, no
dashboard); anything else is the address of a running Dask scheduler (`tcp://host:8786`).
Needs the `[cluster]` extra (`dask[distributed]`).

Each worker keeps one warm backend and one JIT VM class per VM class for the whole run: a
worker plugin (`CaseRunnerPlugin`) sets the process up the way a `--jobs` worker process is
set up (`caserun._setup_process`), and every task runs a small batch of cases (grouped by file,
like `--jobs`) with it. Results stream back as batches finish, to the same progress display,
failure lines and `--json` as a local run.

A worker that dies loses no case: the scheduler runs its task again on another worker (the
local cluster's scheduler allows one retry: `distributed.scheduler.allowed-failures` 1; a
remote scheduler applies its own setting). A batch that killed its workers is split into single
cases, and a single case that kills its workers is reported as failed, naming the case.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

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
#: cases per task (small: results stream back, and a batch lost with a worker is re-run)
BATCH_SIZE = 4
PLUGIN_NAME = "pyevm-jit-cases"

_lock = threading.Lock()  # one case at a time per worker process (a worker may have threads)


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

    settings = {
        # a task that was running on two workers that died is a failure (KilledWorker)
        "distributed.scheduler.allowed-failures": 1,
        # a worker holds only the task it runs: a worker that dies takes no innocent queued
        # task down with it (those would count a death each)
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        if address.startswith(LOCAL_PREFIX):
            workers = int(address[len(LOCAL_PREFIX) :])
            with (
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                ) as cluster,
                distributed.Client(cluster) as client,
            ):
                yield client
        else:
            try:
                client = distributed.Client(address, timeout=30)
            except OSError as exc:
                raise UsageError(
                    f"--cluster {address}: cannot reach the scheduler ({exc})"
                ) from None
            with client:
                yield client


#: what runs in a worker: the process's set-up and close, and a batch of cases (functions of
#: `cli.caserun`, passed in: this module does not import it)
Setup = Callable[[Any], None]
Close = Callable[[], None]
RunBatch = Callable[[Any, Sequence[Any]], tuple[list[Any], int, "dict[str, Any] | None"]]


class CaseRunnerPlugin(_WorkerPlugin):
    """Sets a worker up for the run's cases once (its warm backend) and closes it at the end
    (module-level: workers import it by name)."""

    name = PLUGIN_NAME

    def __init__(self, spec: Any, setup: Setup, close: Close) -> None:
        self.spec, self.setup_process, self.close_process = spec, setup, close

    def setup(self, worker: Any) -> None:
        with _lock:
            self.setup_process(self.spec)

    def teardown(self, worker: Any) -> None:
        with _lock:
            self.close_process()


def run_task(
    run_batch: RunBatch, spec: Any, batch: Sequence[Any]
) -> tuple[list[Any], int, dict[str, Any] | None]:
    """A task: `run_batch` on this worker's warm backend, one batch at a time."""
    with _lock:
        return run_batch(spec, batch)


def execute_on_cluster(
    batches: list[list[Any]],
    spec: Any,
    address: str,
    stats: dict[int, dict[str, Any]],
    *,
    setup: Setup,
    close: Close,
    run_batch: RunBatch,
) -> Iterator[tuple[list[Any], dict[int, dict[str, Any]]]]:
    """Results of every case as batches finish on the cluster (see the module doc)."""
    distributed = _distributed()
    with client_for(address) as client:
        client.register_plugin(CaseRunnerPlugin(spec, setup, close), name=PLUGIN_NAME)
        futures = {
            client.submit(run_task, run_batch, spec, batch, pure=False): batch for batch in batches
        }
        done = distributed.as_completed(list(futures))
        retried: list[list[Any]] = []
        for future in done:
            batch = futures.pop(future)
            if future.status == "finished":
                results, pid, snapshot = future.result()
                if snapshot is not None:
                    stats[pid] = snapshot
                yield results, stats
                continue
            exc = future.exception() if future.status == "error" else None
            if exc is None and future.status != "error" and batch not in retried:
                retried.append(batch)  # lost or cancelled (not erred): once more
                again = client.submit(run_task, run_batch, spec, batch, pure=False)
                futures[again] = batch
                done.add(again)
                continue
            if isinstance(exc, distributed.KilledWorker) and len(batch) > 1:
                for case in batch:  # find the case that kills workers
                    single = client.submit(run_task, run_batch, spec, [case], pure=False)
                    futures[single] = [case]
                    done.add(single)
                continue
            killed = isinstance(exc, distributed.KilledWorker)
            reason = (
                "worker processes died running this case (each time it was retried on another)"
                if killed
                else f"the task failed: {type(exc).__name__}: {exc}"
                if exc is not None
                else f"the task was {future.status} twice"
            )
            yield [spec.kind.died(case, reason) for case in batch], stats
        with contextlib.suppress(Exception):
            client.unregister_worker_plugin(PLUGIN_NAME)  # closes the workers' backends
